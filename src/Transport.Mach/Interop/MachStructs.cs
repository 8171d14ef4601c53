using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.Mach.Interop;

// Blittable copies of the structures in <mach/message.h> (osfmk/mach/message.h), which declares them inside
// #pragma pack(push, 4): hence Pack = 4, which keeps the 64-bit out-of-line descriptor at 16 bytes.
// Bit-fields are one 32-bit word each; clang allocates bit-fields from the least significant bit on the
// little-endian targets macOS runs on (x86-64, arm64), so `type : 8` declared last is the top byte.
// Sizes and offsets are checked against the header values by MachLayoutTests. audit_token_t is the shared
// Sandgrain.Transport.Interop.AuditToken, which the Unix-socket transport reads from LOCAL_PEERTOKEN too.

/// <summary><c>mach_msg_header_t</c> (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachMessageHeader
{
    /// <summary><c>msgh_bits</c>.</summary>
    public uint Bits;

    /// <summary><c>msgh_size</c>: header, body, descriptors and inline data, without the trailer.</summary>
    public uint Size;

    /// <summary><c>msgh_remote_port</c>: the destination when sending, the reply right when received.</summary>
    public uint RemotePort;

    /// <summary><c>msgh_local_port</c>: the reply right when sending, the receiving port when received.</summary>
    public uint LocalPort;

    /// <summary><c>msgh_voucher_port</c>.</summary>
    public uint VoucherPort;

    /// <summary><c>msgh_id</c>.</summary>
    public int Id;
}

/// <summary><c>mach_msg_body_t</c> (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachMessageBody
{
    /// <summary><c>msgh_descriptor_count</c>.</summary>
    public uint DescriptorCount;
}

/// <summary><c>mach_msg_port_descriptor_t</c> as user space sees it (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachPortDescriptor
{
    /// <summary><c>name</c>.</summary>
    public uint Name;

    /// <summary><c>pad1</c>.</summary>
    public uint Pad1;

    /// <summary><c>pad2 : 16, disposition : 8, type : 8</c>.</summary>
    public uint Bits;

    public readonly uint Disposition => (Bits >> 16) & 0xFF;

    public readonly uint Type => Bits >> 24;

    public static uint PackBits(uint disposition, uint type) => ((disposition & 0xFF) << 16) | ((type & 0xFF) << 24);
}

/// <summary><c>mach_msg_ool_descriptor64_t</c> (16 bytes), the form a 64-bit process sends and receives.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachOutOfLineDescriptor64
{
    /// <summary><c>address</c>.</summary>
    public ulong Address;

    /// <summary><c>deallocate : 8, copy : 8, pad1 : 8, type : 8</c>.</summary>
    public uint Bits;

    /// <summary><c>size</c>.</summary>
    public uint Size;

    public readonly uint Deallocate => Bits & 0xFF;

    public readonly uint Copy => (Bits >> 8) & 0xFF;

    public readonly uint Type => Bits >> 24;

    public static uint PackBits(uint deallocate, uint copy, uint type) => (deallocate & 0xFF) | ((copy & 0xFF) << 8) | ((type & 0xFF) << 24);
}

/// <summary><c>security_token_t</c>: <c>unsigned int val[2]</c> (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachSecurityToken
{
    public uint Val0;
    public uint Val1;
}

/// <summary><c>mach_msg_audit_trailer_t</c> (52 bytes), requested with <c>MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT)</c>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachAuditTrailer
{
    /// <summary><c>msgh_trailer_type</c>.</summary>
    public uint TrailerType;

    /// <summary><c>msgh_trailer_size</c>.</summary>
    public uint TrailerSize;

    /// <summary><c>msgh_seqno</c>.</summary>
    public uint Seqno;

    /// <summary><c>msgh_sender</c>.</summary>
    public MachSecurityToken Sender;

    /// <summary><c>msgh_audit</c>.</summary>
    public AuditToken Audit;
}

/// <summary><c>NDR_record_t</c> from <c>&lt;mach/ndr.h&gt;</c> (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct MachNdrRecord
{
    public byte MigVersion;
    public byte InterfaceVersion;
    public byte Reserved1;
    public byte MigEncoding;
    public byte IntegerRepresentation;
    public byte CharacterRepresentation;
    public byte FloatRepresentation;
    public byte Reserved2;
}

/// <summary><c>mach_dead_name_notification_t</c> from <c>&lt;mach/notify.h&gt;</c> without its trailer (36 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachDeadNameNotification
{
    /// <summary><c>not_header</c>.</summary>
    public MachMessageHeader Header;

    /// <summary><c>NDR</c>.</summary>
    public MachNdrRecord Ndr;

    /// <summary><c>not_port</c>: the name that died; the notification carries one extra user reference to it.</summary>
    public uint NotPort;
}

/// <summary><c>mach_no_senders_notification_t</c> from <c>&lt;mach/notify.h&gt;</c> without its trailer (36 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachNoSendersNotification
{
    /// <summary><c>not_header</c>.</summary>
    public MachMessageHeader Header;

    /// <summary><c>NDR</c>.</summary>
    public MachNdrRecord Ndr;

    /// <summary><c>not_count</c>: the make-send count when the last send right went away.</summary>
    public uint NotCount;
}

/// <summary><c>mach_port_limits_t</c> from <c>&lt;mach/port.h&gt;</c> (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct MachPortLimits
{
    /// <summary><c>mpl_qlimit</c>: messages queued before senders wait.</summary>
    public uint QueueLimit;
}
