namespace Sandgrain.Transport.Mach.Interop;

/// <summary>
/// The values from Apple's headers that the Mach transport depends on, each with the header it was read
/// from: XNU (apple-oss-distributions/xnu, tag xnu-11417.101.15) for the kernel interface, and the
/// bootstrap server's <c>&lt;servers/bootstrap.h&gt;</c> (launchd's <c>bootstrap.h</c>, same values in the
/// SDK's <c>xpc/bootstrap.h</c>) for the name service.
/// </summary>
/// <remarks>
/// Kept apart from <see cref="MachNative"/> and free of platform annotations so that the message codec, and
/// the tests that check every layout and encoding against these headers, run on every platform.
/// </remarks>
internal static class MachAbi
{
    // ---- <mach/kern_return.h> (osfmk/mach/kern_return.h) -------------------------------------

    internal const int KERN_SUCCESS = 0;
    internal const int KERN_NO_SPACE = 3;
    internal const int KERN_INVALID_ARGUMENT = 4;
    internal const int KERN_RESOURCE_SHORTAGE = 6;
    internal const int KERN_INVALID_NAME = 15;
    internal const int KERN_INVALID_RIGHT = 17;
    internal const int KERN_INVALID_VALUE = 18;

    // ---- <mach/port.h> (osfmk/mach/port.h) ---------------------------------------------------

    /// <summary><c>MACH_PORT_NULL</c>: 0 ("intentional loose typing").</summary>
    internal const uint MACH_PORT_NULL = 0;

    /// <summary><c>MACH_PORT_DEAD</c>: <c>((mach_port_name_t) ~0)</c>.</summary>
    internal const uint MACH_PORT_DEAD = 0xFFFF_FFFF;

    internal const uint MACH_PORT_RIGHT_SEND = 0;
    internal const uint MACH_PORT_RIGHT_RECEIVE = 1;
    internal const uint MACH_PORT_RIGHT_SEND_ONCE = 2;
    internal const uint MACH_PORT_RIGHT_PORT_SET = 3;
    internal const uint MACH_PORT_RIGHT_DEAD_NAME = 4;

    /// <summary><c>MACH_PORT_TYPE_DEAD_NAME</c> = <c>MACH_PORT_TYPE(MACH_PORT_RIGHT_DEAD_NAME)</c> = <c>1u &lt;&lt; (4 + 16)</c>.</summary>
    internal const uint MACH_PORT_TYPE_DEAD_NAME = 1u << ((int)MACH_PORT_RIGHT_DEAD_NAME + 16);

    /// <summary><c>MACH_PORT_LIMITS_INFO</c>: the <c>mach_port_set_attributes</c> flavor taking a <c>mach_port_limits_t</c>.</summary>
    internal const int MACH_PORT_LIMITS_INFO = 1;

    /// <summary><c>MACH_PORT_LIMITS_INFO_COUNT</c>: <c>sizeof(mach_port_limits_t) / sizeof(natural_t)</c> = 1.</summary>
    internal const uint MACH_PORT_LIMITS_INFO_COUNT = 1;

    /// <summary><c>MACH_PORT_QLIMIT_DEFAULT</c> = <c>MACH_PORT_QLIMIT_BASIC</c> = 5 messages: too few for a byte stream, hence the option.</summary>
    internal const int MACH_PORT_QLIMIT_DEFAULT = 5;

    /// <summary><c>MACH_PORT_QLIMIT_MAX</c> = <c>MACH_PORT_QLIMIT_LARGE</c> = 1024 messages.</summary>
    internal const int MACH_PORT_QLIMIT_MAX = 1024;

    /// <summary><c>MACH_PORT_TYPE(right)</c>: <c>((1u) &lt;&lt; ((right) + 16))</c>.</summary>
    internal static uint MACH_PORT_TYPE(uint right) => 1u << (int)(right + 16);

    /// <summary><c>MACH_PORT_VALID(name)</c>: neither <c>MACH_PORT_NULL</c> nor <c>MACH_PORT_DEAD</c>.</summary>
    internal static bool MACH_PORT_VALID(uint name) => name != MACH_PORT_NULL && name != MACH_PORT_DEAD;

    // ---- <mach/message.h> (osfmk/mach/message.h): header bits ------------------------------

    internal const uint MACH_MSGH_BITS_ZERO = 0x0000_0000;
    internal const uint MACH_MSGH_BITS_REMOTE_MASK = 0x0000_001F;
    internal const uint MACH_MSGH_BITS_LOCAL_MASK = 0x0000_1F00;
    internal const uint MACH_MSGH_BITS_VOUCHER_MASK = 0x001F_0000;
    internal const uint MACH_MSGH_BITS_PORTS_MASK = MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK | MACH_MSGH_BITS_VOUCHER_MASK;
    internal const uint MACH_MSGH_BITS_COMPLEX = 0x8000_0000;

    /// <summary><c>MACH_MSGH_BITS(remote, local)</c>: <c>((remote) | ((local) &lt;&lt; 8))</c>.</summary>
    internal static uint MACH_MSGH_BITS(uint remote, uint local) => remote | (local << 8);

    /// <summary><c>MACH_MSGH_BITS_SET_PORTS(remote, local, voucher)</c>, each masked to its field.</summary>
    internal static uint MACH_MSGH_BITS_SET_PORTS(uint remote, uint local, uint voucher) =>
        (remote & MACH_MSGH_BITS_REMOTE_MASK) | ((local << 8) & MACH_MSGH_BITS_LOCAL_MASK) | ((voucher << 16) & MACH_MSGH_BITS_VOUCHER_MASK);

    /// <summary><c>MACH_MSGH_BITS_REMOTE(bits)</c>.</summary>
    internal static uint MACH_MSGH_BITS_REMOTE(uint bits) => bits & MACH_MSGH_BITS_REMOTE_MASK;

    /// <summary><c>MACH_MSGH_BITS_LOCAL(bits)</c>.</summary>
    internal static uint MACH_MSGH_BITS_LOCAL(uint bits) => (bits & MACH_MSGH_BITS_LOCAL_MASK) >> 8;

    /// <summary><c>MACH_MSGH_BITS_VOUCHER(bits)</c>.</summary>
    internal static uint MACH_MSGH_BITS_VOUCHER(uint bits) => (bits & MACH_MSGH_BITS_VOUCHER_MASK) >> 16;

    // ---- <mach/message.h>: port dispositions (sent) and received right types --------------

    internal const uint MACH_MSG_TYPE_MOVE_RECEIVE = 16;
    internal const uint MACH_MSG_TYPE_MOVE_SEND = 17;
    internal const uint MACH_MSG_TYPE_MOVE_SEND_ONCE = 18;
    internal const uint MACH_MSG_TYPE_COPY_SEND = 19;
    internal const uint MACH_MSG_TYPE_MAKE_SEND = 20;
    internal const uint MACH_MSG_TYPE_MAKE_SEND_ONCE = 21;

    /// <summary><c>MACH_MSG_TYPE_PORT_RECEIVE</c> = <c>MACH_MSG_TYPE_MOVE_RECEIVE</c>: what a receiver sees for a moved receive right.</summary>
    internal const uint MACH_MSG_TYPE_PORT_RECEIVE = MACH_MSG_TYPE_MOVE_RECEIVE;

    /// <summary>
    /// <c>MACH_MSG_TYPE_PORT_SEND</c> = <c>MACH_MSG_TYPE_MOVE_SEND</c>: what a receiver sees for a send right sent
    /// with MOVE_SEND, COPY_SEND or MAKE_SEND (<c>ipc_object_copyin_type</c>, osfmk/ipc/ipc_object.c).
    /// </summary>
    internal const uint MACH_MSG_TYPE_PORT_SEND = MACH_MSG_TYPE_MOVE_SEND;

    /// <summary><c>MACH_MSG_TYPE_PORT_SEND_ONCE</c> = <c>MACH_MSG_TYPE_MOVE_SEND_ONCE</c>.</summary>
    internal const uint MACH_MSG_TYPE_PORT_SEND_ONCE = MACH_MSG_TYPE_MOVE_SEND_ONCE;

    // ---- <mach/message.h>: out-of-line copy options and descriptor types --------------------

    internal const uint MACH_MSG_PHYSICAL_COPY = 0;
    internal const uint MACH_MSG_VIRTUAL_COPY = 1;

    internal const uint MACH_MSG_PORT_DESCRIPTOR = 0;
    internal const uint MACH_MSG_OOL_DESCRIPTOR = 1;
    internal const uint MACH_MSG_OOL_PORTS_DESCRIPTOR = 2;
    internal const uint MACH_MSG_OOL_VOLATILE_DESCRIPTOR = 3;
    internal const uint MACH_MSG_GUARDED_PORT_DESCRIPTOR = 4;

    // ---- <mach/message.h>: mach_msg options -------------------------------------------------

    internal const int MACH_SEND_MSG = 0x0000_0001;
    internal const int MACH_RCV_MSG = 0x0000_0002;
    internal const int MACH_SEND_TIMEOUT = 0x0000_0010;
    internal const int MACH_RCV_TIMEOUT = 0x0000_0100;

    /// <summary><c>MACH_MSG_TIMEOUT_NONE</c>: with MACH_SEND_TIMEOUT/MACH_RCV_TIMEOUT, "do not wait at all".</summary>
    internal const uint MACH_MSG_TIMEOUT_NONE = 0;

    internal const uint MACH_MSG_TRAILER_FORMAT_0 = 0;
    internal const uint MACH_RCV_TRAILER_AUDIT = 3;

    /// <summary><c>MACH_RCV_TRAILER_TYPE(x)</c>: <c>(((x) &amp; 0xf) &lt;&lt; 28)</c>.</summary>
    internal static int MACH_RCV_TRAILER_TYPE(uint format) => (int)((format & 0xF) << 28);

    /// <summary><c>MACH_RCV_TRAILER_ELEMENTS(x)</c>: <c>(((x) &amp; 0xf) &lt;&lt; 24)</c>.</summary>
    internal static int MACH_RCV_TRAILER_ELEMENTS(uint elements) => (int)((elements & 0xF) << 24);

    // ---- <mach/message.h>: mach_msg return codes ---------------------------------------------

    internal const int MACH_MSG_SUCCESS = 0x0000_0000;
    internal const int MACH_SEND_INVALID_DATA = 0x1000_0002;
    internal const int MACH_SEND_INVALID_DEST = 0x1000_0003;
    internal const int MACH_SEND_TIMED_OUT = 0x1000_0004;
    internal const int MACH_SEND_INTERRUPTED = 0x1000_0007;
    internal const int MACH_SEND_MSG_TOO_SMALL = 0x1000_0008;
    internal const int MACH_SEND_INVALID_RIGHT = 0x1000_000A;
    internal const int MACH_SEND_INVALID_MEMORY = 0x1000_000C;
    internal const int MACH_SEND_TOO_LARGE = 0x1000_000E;
    internal const int MACH_SEND_INVALID_TYPE = 0x1000_000F;
    internal const int MACH_SEND_INVALID_HEADER = 0x1000_0010;
    internal const int MACH_RCV_INVALID_NAME = 0x1000_4002;
    internal const int MACH_RCV_TIMED_OUT = 0x1000_4003;
    internal const int MACH_RCV_TOO_LARGE = 0x1000_4004;
    internal const int MACH_RCV_INTERRUPTED = 0x1000_4005;
    internal const int MACH_RCV_PORT_DIED = 0x1000_4009;

    // ---- <mach/message.h>: sizes of the structures (64-bit user space, #pragma pack(push, 4)) --

    /// <summary><c>sizeof(mach_msg_header_t)</c>: six 32-bit fields.</summary>
    internal const int MachMsgHeaderSize = 24;

    /// <summary><c>sizeof(mach_msg_body_t)</c>: <c>msgh_descriptor_count</c>.</summary>
    internal const int MachMsgBodySize = 4;

    /// <summary><c>sizeof(mach_msg_port_descriptor_t)</c> in user space: name, pad1, one 32-bit word of bit-fields.</summary>
    internal const int MachMsgPortDescriptorSize = 12;

    /// <summary><c>sizeof(mach_msg_ool_descriptor64_t)</c>: 64-bit address, a bit-field word, size; 4-byte packing keeps it at 16.</summary>
    internal const int MachMsgOolDescriptor64Size = 16;

    /// <summary><c>sizeof(mach_msg_guarded_port_descriptor64_t)</c>, and of the OOL-ports descriptor on LP64.</summary>
    internal const int MachMsgLargeDescriptorSize = 16;

    /// <summary><c>sizeof(audit_token_t)</c>: <c>unsigned int val[8]</c>.</summary>
    internal const int AuditTokenSize = 32;

    /// <summary><c>sizeof(mach_msg_audit_trailer_t)</c>: type, size, seqno, security_token_t (8), audit_token_t (32).</summary>
    internal const int MachMsgAuditTrailerSize = 52;

    /// <summary><c>MAX_TRAILER_SIZE</c> = <c>sizeof(mach_msg_mac_trailer_t)</c> on LP64: the audit trailer plus context (8), ad (4), labels (4).</summary>
    internal const int MaxTrailerSize = 68;

    // ---- <mach/ndr.h> (osfmk/mach/ndr.h) ----------------------------------------------------

    /// <summary><c>sizeof(NDR_record_t)</c>: eight <c>unsigned char</c>s.</summary>
    internal const int NdrRecordSize = 8;

    // ---- <mach/notify.h> (osfmk/mach/notify.h) ---------------------------------------------

    /// <summary><c>MACH_NOTIFY_FIRST</c> = <c>0100</c> (octal) = 64.</summary>
    internal const int MACH_NOTIFY_FIRST = 64;
    internal const int MACH_NOTIFY_PORT_DELETED = MACH_NOTIFY_FIRST + 1;
    internal const int MACH_NOTIFY_SEND_POSSIBLE = MACH_NOTIFY_FIRST + 2;
    internal const int MACH_NOTIFY_PORT_DESTROYED = MACH_NOTIFY_FIRST + 5;
    internal const int MACH_NOTIFY_NO_SENDERS = MACH_NOTIFY_FIRST + 6;
    internal const int MACH_NOTIFY_SEND_ONCE = MACH_NOTIFY_FIRST + 7;

    /// <summary><c>MACH_NOTIFY_DEAD_NAME</c> = <c>MACH_NOTIFY_FIRST + 010</c> (octal) = 72.</summary>
    internal const int MACH_NOTIFY_DEAD_NAME = MACH_NOTIFY_FIRST + 8;

    /// <summary><c>MACH_NOTIFY_LAST</c> = <c>MACH_NOTIFY_FIRST + 015</c> (octal) = 77.</summary>
    internal const int MACH_NOTIFY_LAST = MACH_NOTIFY_FIRST + 13;

    /// <summary><c>mach_dead_name_notification_t</c> / <c>mach_port_deleted_notification_t</c> without the trailer: header, NDR, <c>not_port</c>.</summary>
    internal const int MachNotificationWithNameSize = MachMsgHeaderSize + NdrRecordSize + 4;

    /// <summary><c>mach_no_senders_notification_t</c> without the trailer: header, NDR, <c>not_count</c>.</summary>
    internal const int MachNoSendersNotificationSize = MachMsgHeaderSize + NdrRecordSize + 4;

    /// <summary><c>mach_send_once_notification_t</c> without the trailer: the header alone.</summary>
    internal const int MachSendOnceNotificationSize = MachMsgHeaderSize;

    // ---- <mach/task_special_ports.h> (osfmk/mach/task_special_ports.h) ---------------------

    internal const int TASK_BOOTSTRAP_PORT = 4;

    // ---- <servers/bootstrap.h> (launchd bootstrap.h; SDK xpc/bootstrap.h) ---------------------

    internal const int BOOTSTRAP_SUCCESS = 0;
    internal const int BOOTSTRAP_NOT_PRIVILEGED = 1100;
    internal const int BOOTSTRAP_NAME_IN_USE = 1101;
    internal const int BOOTSTRAP_UNKNOWN_SERVICE = 1102;
    internal const int BOOTSTRAP_SERVICE_ACTIVE = 1103;
    internal const int BOOTSTRAP_BAD_COUNT = 1104;
    internal const int BOOTSTRAP_NO_MEMORY = 1105;

    /// <summary><c>BOOTSTRAP_MAX_NAME_LEN</c>: <c>name_t</c> is <c>char[128]</c>, so 127 bytes and a NUL.</summary>
    internal const int BOOTSTRAP_MAX_NAME_LEN = 128;
}
