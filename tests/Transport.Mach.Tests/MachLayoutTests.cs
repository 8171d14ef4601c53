using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// Every structure against the sizes and offsets in &lt;mach/message.h&gt; and &lt;mach/notify.h&gt; (64-bit user space,
/// <c>#pragma pack(push, 4)</c>), and every macro against the value the header computes. Runs on every platform.
/// </summary>
public sealed class MachLayoutTests
{
    [Fact]
    public void Platform_IsLittleEndian_AsTheBitFieldEncodingAssumes() => Assert.True(BitConverter.IsLittleEndian);

    [Fact]
    public void MachMsgHeader_Is24Bytes_WithTheHeaderOrder()
    {
        AssertSize<MachMessageHeader>(24);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.Bits), 0);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.Size), 4);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.RemotePort), 8);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.LocalPort), 12);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.VoucherPort), 16);
        AssertOffset<MachMessageHeader>(nameof(MachMessageHeader.Id), 20);
        Assert.Equal(MachMsgHeaderSize, Marshal.SizeOf<MachMessageHeader>());
    }

    [Fact]
    public void MachMsgBody_Is4Bytes()
    {
        AssertSize<MachMessageBody>(4);
        Assert.Equal(MachMsgBodySize, Marshal.SizeOf<MachMessageBody>());
    }

    [Fact]
    public void PortDescriptor_Is12Bytes_NamePadBitfields()
    {
        AssertSize<MachPortDescriptor>(12);
        AssertOffset<MachPortDescriptor>(nameof(MachPortDescriptor.Name), 0);
        AssertOffset<MachPortDescriptor>(nameof(MachPortDescriptor.Pad1), 4);
        AssertOffset<MachPortDescriptor>(nameof(MachPortDescriptor.Bits), 8);
        Assert.Equal(MachMsgPortDescriptorSize, Marshal.SizeOf<MachPortDescriptor>());
    }

    [Fact]
    public void OutOfLineDescriptor64_Is16Bytes_BecauseOfPack4()
    {
        AssertSize<MachOutOfLineDescriptor64>(16);
        AssertOffset<MachOutOfLineDescriptor64>(nameof(MachOutOfLineDescriptor64.Address), 0);
        AssertOffset<MachOutOfLineDescriptor64>(nameof(MachOutOfLineDescriptor64.Bits), 8);
        AssertOffset<MachOutOfLineDescriptor64>(nameof(MachOutOfLineDescriptor64.Size), 12);
        Assert.Equal(MachMsgOolDescriptor64Size, Marshal.SizeOf<MachOutOfLineDescriptor64>());
    }

    [Fact]
    public void AuditTrailer_Is52Bytes_WithTheAuditTokenAt20()
    {
        AssertSize<MachSecurityToken>(8);
        AssertSize<AuditToken>(32);
        AssertSize<MachAuditTrailer>(52);
        AssertOffset<MachAuditTrailer>(nameof(MachAuditTrailer.TrailerType), 0);
        AssertOffset<MachAuditTrailer>(nameof(MachAuditTrailer.TrailerSize), 4);
        AssertOffset<MachAuditTrailer>(nameof(MachAuditTrailer.Seqno), 8);
        AssertOffset<MachAuditTrailer>(nameof(MachAuditTrailer.Sender), 12);
        AssertOffset<MachAuditTrailer>(nameof(MachAuditTrailer.Audit), 20);
        Assert.Equal(MachMsgAuditTrailerSize, Marshal.SizeOf<MachAuditTrailer>());
        Assert.Equal(AuditTokenSize, Marshal.SizeOf<AuditToken>());
    }

    [Fact]
    public void AuditToken_FieldsAreEuidAt1_PidAt5_PidVersionAt7()
    {
        AssertOffset<AuditToken>(nameof(AuditToken.Val1), 4);
        AssertOffset<AuditToken>(nameof(AuditToken.Val5), 20);
        AssertOffset<AuditToken>(nameof(AuditToken.Val7), 28);
        var token = KernelSimulator.Token(euid: 501, pid: 4242, pidVersion: 9);
        Assert.Equal(501u, token.EffectiveUserId);
        Assert.Equal(4242, token.ProcessId);
        Assert.Equal(9u, token.ProcessIdVersion);
        Assert.False(token.IsKernel);
        Assert.True(KernelSimulator.KernelToken.IsKernel);
        Assert.True(token.SameAs(KernelSimulator.Token(euid: 501, pid: 4242, pidVersion: 9)));
        Assert.False(token.SameAs(KernelSimulator.Token(euid: 501, pid: 4242, pidVersion: 10)));
    }

    [Fact]
    public void Notifications_Are36Bytes_WithTheArgumentAt32()
    {
        AssertSize<MachNdrRecord>(NdrRecordSize);
        AssertSize<MachDeadNameNotification>(36);
        AssertOffset<MachDeadNameNotification>(nameof(MachDeadNameNotification.Header), 0);
        AssertOffset<MachDeadNameNotification>(nameof(MachDeadNameNotification.Ndr), 24);
        AssertOffset<MachDeadNameNotification>(nameof(MachDeadNameNotification.NotPort), 32);
        AssertSize<MachNoSendersNotification>(36);
        AssertOffset<MachNoSendersNotification>(nameof(MachNoSendersNotification.NotCount), 32);
        Assert.Equal(MachNotificationWithNameSize, Marshal.SizeOf<MachDeadNameNotification>());
        Assert.Equal(MachNoSendersNotificationSize, Marshal.SizeOf<MachNoSendersNotification>());
    }

    [Fact]
    public void PortLimits_Is4Bytes_OneNaturalT()
    {
        AssertSize<MachPortLimits>(4);
        Assert.Equal(MACH_PORT_LIMITS_INFO_COUNT, (uint)(Marshal.SizeOf<MachPortLimits>() / sizeof(uint)));
    }

    [Fact]
    public void MachMsghBits_EncodeAsTheHeaderMacros()
    {
        Assert.Equal(0x0000_1413u, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND));
        Assert.Equal(0x0000_0013u, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0));
        Assert.Equal(0x0000_0011u, MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0));
        Assert.Equal(0x0000_0014u, MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0));
        Assert.Equal(0x8000_0013u, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX);
        Assert.Equal(0x0013_1211u, MACH_MSGH_BITS_SET_PORTS(17, 18, 19));
        Assert.Equal(0x001F_1F1Fu, MACH_MSGH_BITS_PORTS_MASK);

        const uint bits = 0x8013_1211;
        Assert.Equal(17u, MACH_MSGH_BITS_REMOTE(bits));
        Assert.Equal(18u, MACH_MSGH_BITS_LOCAL(bits));
        Assert.Equal(19u, MACH_MSGH_BITS_VOUCHER(bits));
    }

    [Fact]
    public void MessageTypes_AreTheHeaderValues()
    {
        Assert.Equal(16u, MACH_MSG_TYPE_MOVE_RECEIVE);
        Assert.Equal(17u, MACH_MSG_TYPE_MOVE_SEND);
        Assert.Equal(18u, MACH_MSG_TYPE_MOVE_SEND_ONCE);
        Assert.Equal(19u, MACH_MSG_TYPE_COPY_SEND);
        Assert.Equal(20u, MACH_MSG_TYPE_MAKE_SEND);
        Assert.Equal(21u, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        Assert.Equal(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_PORT_SEND);
        Assert.Equal(0u, MACH_MSG_PORT_DESCRIPTOR);
        Assert.Equal(1u, MACH_MSG_OOL_DESCRIPTOR);
        Assert.Equal(3u, MACH_MSG_OOL_VOLATILE_DESCRIPTOR);
        Assert.Equal(1u, MACH_MSG_VIRTUAL_COPY);
    }

    [Fact]
    public void DescriptorBitFields_PutDispositionAndTypeInTheTopBytes()
    {
        Assert.Equal(0x0014_0000u, MachPortDescriptor.PackBits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_PORT_DESCRIPTOR));
        Assert.Equal(0x0100_0100u, MachOutOfLineDescriptor64.PackBits(0, MACH_MSG_VIRTUAL_COPY, MACH_MSG_OOL_DESCRIPTOR));

        // The byte image clang produces for { name = 0x103, disposition = MAKE_SEND, type = PORT }: byte 10 is the
        // disposition, byte 11 the type.
        var image = new byte[12];
        var descriptor = new MachPortDescriptor { Name = 0x103, Pad1 = 0, Bits = MachPortDescriptor.PackBits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_PORT_DESCRIPTOR) };
        MemoryMarshal.Write(image, in descriptor);
        Assert.Equal(new byte[] { 0x03, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0 }, image);

        var region = new MachOutOfLineDescriptor64 { Address = 0x1122_3344_5566_7788, Bits = MachOutOfLineDescriptor64.PackBits(1, MACH_MSG_VIRTUAL_COPY, MACH_MSG_OOL_DESCRIPTOR), Size = 0x10000 };
        var ool = new byte[16];
        MemoryMarshal.Write(ool, in region);
        Assert.Equal(new byte[] { 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 1, 1, 0, 1, 0, 0, 1, 0 }, ool);
        Assert.Equal(1u, region.Deallocate);
        Assert.Equal(MACH_MSG_VIRTUAL_COPY, region.Copy);
        Assert.Equal(MACH_MSG_OOL_DESCRIPTOR, region.Type);
    }

    [Fact]
    public void MachMsgOptions_AreTheHeaderValues()
    {
        Assert.Equal(0x1, MACH_SEND_MSG);
        Assert.Equal(0x2, MACH_RCV_MSG);
        Assert.Equal(0x10, MACH_SEND_TIMEOUT);
        Assert.Equal(0x100, MACH_RCV_TIMEOUT);
        Assert.Equal(0x0300_0000, MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT));
        Assert.Equal(0x0300_0102, MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT));
    }

    [Fact]
    public void ReturnCodes_AreTheHeaderValues()
    {
        Assert.Equal(0x1000_0003, MACH_SEND_INVALID_DEST);
        Assert.Equal(0x1000_0004, MACH_SEND_TIMED_OUT);
        Assert.Equal(0x1000_4003, MACH_RCV_TIMED_OUT);
        Assert.Equal(0x1000_4004, MACH_RCV_TOO_LARGE);
        Assert.Equal(4, KERN_INVALID_ARGUMENT);
        Assert.Equal(1100, BOOTSTRAP_NOT_PRIVILEGED);
        Assert.Equal(1101, BOOTSTRAP_NAME_IN_USE);
        Assert.Equal(1102, BOOTSTRAP_UNKNOWN_SERVICE);
        Assert.Equal(1103, BOOTSTRAP_SERVICE_ACTIVE);
        Assert.Equal(128, BOOTSTRAP_MAX_NAME_LEN);
        Assert.Equal(SandboxNameRules.MachServiceNameMaxBytes, BOOTSTRAP_MAX_NAME_LEN - 1);
    }

    [Fact]
    public void NotificationIds_AreTheOctalHeaderValues()
    {
        Assert.Equal(64, MACH_NOTIFY_FIRST);
        Assert.Equal(65, MACH_NOTIFY_PORT_DELETED);
        Assert.Equal(69, MACH_NOTIFY_PORT_DESTROYED);
        Assert.Equal(70, MACH_NOTIFY_NO_SENDERS);
        Assert.Equal(71, MACH_NOTIFY_SEND_ONCE);
        Assert.Equal(72, MACH_NOTIFY_DEAD_NAME);
        Assert.Equal(77, MACH_NOTIFY_LAST);
    }

    [Fact]
    public void PortConstants_AreTheHeaderValues()
    {
        Assert.Equal(0u, MACH_PORT_NULL);
        Assert.Equal(uint.MaxValue, MACH_PORT_DEAD);
        Assert.Equal(1u, MACH_PORT_RIGHT_RECEIVE);
        Assert.Equal(0x0010_0000u, MACH_PORT_TYPE_DEAD_NAME);
        Assert.Equal(MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE(MACH_PORT_RIGHT_DEAD_NAME));
        Assert.Equal(0x0002_0000u, MACH_PORT_TYPE(MACH_PORT_RIGHT_RECEIVE));
        Assert.False(MACH_PORT_VALID(MACH_PORT_NULL));
        Assert.False(MACH_PORT_VALID(MACH_PORT_DEAD));
        Assert.True(MACH_PORT_VALID(0x103));
        Assert.Equal(1024, MACH_PORT_QLIMIT_MAX);
        Assert.Equal(4, TASK_BOOTSTRAP_PORT);
    }

    [Fact]
    public void CodecSizes_FollowFromTheStructures()
    {
        Assert.Equal(48, MachMessageCodec.HandshakeSize);
        Assert.Equal(32, MachMessageCodec.ConnectRefusedSize);
        Assert.Equal(44, MachMessageCodec.OutOfLineMessageSize);
        Assert.True(MachMessageCodec.MaxMessageSize + MaxTrailerSize <= MachMessageCodec.ReceiveBufferSize);
        Assert.True(MachMessageCodec.HandshakeSize + MaxTrailerSize <= MachMessageCodec.SmallReceiveBufferSize);
        Assert.Equal(MachMsgAuditTrailerSize + 8 + 4 + 4, MaxTrailerSize);
    }

    private static void AssertSize<T>(int expected)
        where T : unmanaged
    {
        Assert.Equal(expected, Marshal.SizeOf<T>());

        // The codec reads and writes with MemoryMarshal, which uses the managed layout.
        Assert.Equal(expected, Unsafe.SizeOf<T>());
    }

    private static void AssertOffset<T>(string field, int expected) => Assert.Equal(expected, (int)Marshal.OffsetOf<T>(field));
}
