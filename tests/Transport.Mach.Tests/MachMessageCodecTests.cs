using System.Buffers;
using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// The wire format on plain byte arrays: what is sent matches the header layouts, what the kernel would deliver
/// decodes back, and every hostile shape is rejected with a reason instead of being trusted.
/// </summary>
public sealed class MachMessageCodecTests
{
    private const uint ServicePort = 0x0103;
    private const uint OwnPort = 0x0207;
    private static readonly AuditToken Peer = KernelSimulator.Token();

    // ---- round trips ---------------------------------------------------------------------------

    [Fact]
    public void Connect_IsComplex_WithAMakeSendPortDescriptor_AndDecodes()
    {
        var sent = new byte[MachMessageCodec.HandshakeSize];
        Assert.Equal(48, MachMessageCodec.EncodeConnect(sent, ServicePort, OwnPort));

        var header = KernelSimulator.Header(sent);
        Assert.Equal(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX, header.Bits);
        Assert.Equal(48u, header.Size);
        Assert.Equal(ServicePort, header.RemotePort);
        Assert.Equal(MACH_PORT_NULL, header.LocalPort);
        Assert.Equal(MachMessageCodec.ConnectId, header.Id);
        Assert.Equal(1u, MemoryMarshal.Read<MachMessageBody>(sent.AsSpan(24)).DescriptorCount);
        var descriptor = MemoryMarshal.Read<MachPortDescriptor>(sent.AsSpan(28));
        Assert.Equal(OwnPort, descriptor.Name);
        Assert.Equal(MACH_MSG_TYPE_MAKE_SEND, descriptor.Disposition);
        Assert.Equal(MACH_MSG_PORT_DESCRIPTOR, descriptor.Type);

        var received = MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer));
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(MachMessageKind.Connect, received.Kind);
        Assert.Equal(KernelSimulator.TransferredName, received.Port);
        Assert.Equal(MachMessageCodec.ProtocolVersion, received.ProtocolVersion);
        Assert.True(received.HasSender);
        Assert.True(received.Sender.SameAs(Peer));
    }

    [Fact]
    public void ConnectReply_Decodes()
    {
        var sent = new byte[64];
        MachMessageCodec.EncodeConnectReply(sent, ServicePort, OwnPort);
        var received = MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer, MachMessageCodec.SmallReceiveBufferSize));
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(MachMessageKind.ConnectReply, received.Kind);
        Assert.Equal(KernelSimulator.TransferredName, received.Port);
    }

    [Fact]
    public void ConnectRefused_MovesTheSendRightBack_AndDecodes()
    {
        var sent = new byte[MachMessageCodec.ConnectRefusedSize];
        Assert.Equal(32, MachMessageCodec.EncodeConnectRefused(sent, ServicePort, MachRefusal.OtherUser));
        Assert.Equal(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0), KernelSimulator.Header(sent).Bits);

        var received = MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer));
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(MachMessageKind.ConnectRefused, received.Kind);
        Assert.Equal(MachRefusal.OtherUser, received.Refusal);
        Assert.Equal(MachMessageCodec.ProtocolVersion, received.ProtocolVersion);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(4093)]
    [InlineData(MachMessageCodec.InlineThreshold)]
    public void InlineData_RoundTrips_PaddedToFourBytes(int length)
    {
        var payload = Pattern(length);
        var sent = new byte[MachMessageCodec.MaxMessageSize];
        var size = MachMessageCodec.EncodeInlineData(sent, ServicePort, new ReadOnlySequence<byte>(payload));
        Assert.Equal((28 + length + 3) & ~3, size);
        Assert.Equal((uint)size, KernelSimulator.Header(sent).Size);
        Assert.Equal(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), KernelSimulator.Header(sent).Bits);
        Assert.All(sent.AsSpan(28 + length, size - 28 - length).ToArray(), b => Assert.Equal((byte)0, b));

        var delivered = KernelSimulator.Deliver(sent, Peer);
        var received = MachMessageCodec.Decode(delivered);
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(MachMessageKind.InlineData, received.Kind);
        Assert.Equal(payload, delivered.AsSpan(received.PayloadOffset, received.PayloadLength).ToArray());
    }

    [Fact]
    public void InlineData_FromSeveralSegments_IsContiguous()
    {
        var first = Pattern(100);
        var second = Pattern(57, seed: 3);
        var sequence = Chain(first, second);
        var sent = new byte[MachMessageCodec.MaxMessageSize];
        MachMessageCodec.EncodeInlineData(sent, ServicePort, sequence);
        var delivered = KernelSimulator.Deliver(sent, Peer);
        var received = MachMessageCodec.Decode(delivered);
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(first.Concat(second).ToArray(), delivered.AsSpan(received.PayloadOffset, received.PayloadLength).ToArray());
    }

    [Fact]
    public void OutOfLineData_IsAVirtualCopyDescriptor_AndDecodesToTheMappedRegion()
    {
        var sent = new byte[MachMessageCodec.OutOfLineMessageSize];
        Assert.Equal(44, MachMessageCodec.EncodeOutOfLineData(sent, ServicePort, 0x7000_0000, 100_000));
        Assert.Equal(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX, KernelSimulator.Header(sent).Bits);
        var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(sent.AsSpan(28));
        Assert.Equal(0x7000_0000ul, region.Address);
        Assert.Equal(100_000u, region.Size);
        Assert.Equal(MACH_MSG_VIRTUAL_COPY, region.Copy);
        Assert.Equal(0u, region.Deallocate);
        Assert.Equal(MACH_MSG_OOL_DESCRIPTOR, region.Type);

        var received = MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer));
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(MachMessageKind.OutOfLineData, received.Kind);
        Assert.Equal(KernelSimulator.MappedAddress, received.OutOfLineAddress);
        Assert.Equal(100_000, received.OutOfLineSize);
    }

    [Fact]
    public void EndOfStream_AndWakeUp_AreHeaderOnly()
    {
        var sent = new byte[MachMessageCodec.HeaderSize];
        Assert.Equal(24, MachMessageCodec.EncodeEndOfStream(sent, ServicePort));
        Assert.Equal(MachMessageKind.EndOfStream, MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer)).Kind);

        Assert.Equal(24, MachMessageCodec.EncodeWakeUp(sent, OwnPort));
        Assert.Equal(MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0), KernelSimulator.Header(sent).Bits);
        var wake = MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer));
        Assert.Equal(MachMessageStatus.Valid, wake.Status);
        Assert.Equal(MachMessageKind.WakeUp, wake.Kind);
    }

    [Theory]
    [InlineData(MACH_NOTIFY_DEAD_NAME, (int)MachMessageKind.DeadName)]
    [InlineData(MACH_NOTIFY_PORT_DELETED, (int)MachMessageKind.PortDeleted)]
    [InlineData(MACH_NOTIFY_NO_SENDERS, (int)MachMessageKind.NoSenders)]
    [InlineData(MACH_NOTIFY_SEND_ONCE, (int)MachMessageKind.SendOnce)]
    public void KernelNotifications_Decode(int id, int expectedKind)
    {
        var kind = (MachMessageKind)expectedKind;
        var received = MachMessageCodec.Decode(KernelSimulator.Notification(id, 0x0303, KernelSimulator.KernelToken));
        Assert.Equal(MachMessageStatus.Valid, received.Status);
        Assert.Equal(kind, received.Kind);
        if (kind is MachMessageKind.DeadName or MachMessageKind.PortDeleted)
        {
            Assert.Equal(0x0303u, received.Port);
        }
    }

    [Fact]
    public void Notification_ForgedByAProcess_IsRejected()
    {
        var received = MachMessageCodec.Decode(KernelSimulator.Notification(MACH_NOTIFY_DEAD_NAME, 0x0303, Peer));
        Assert.Equal(MachMessageStatus.NotFromKernel, received.Status);
    }

    // ---- hostile messages --------------------------------------------------------------------

    [Fact]
    public void MsghSize_LargerThanTheBuffer_IsRejected()
    {
        var delivered = DeliveredInline(8);
        SetSize(delivered, (uint)delivered.Length);
        Assert.Equal(MachMessageStatus.SizeBeyondBuffer, MachMessageCodec.Decode(delivered).Status);

        SetSize(delivered, (uint)(delivered.Length - MachMsgAuditTrailerSize + 4));
        Assert.Equal(MachMessageStatus.SizeBeyondBuffer, MachMessageCodec.Decode(delivered).Status);

        SetSize(delivered, uint.MaxValue & ~3u);
        Assert.Equal(MachMessageStatus.SizeBeyondBuffer, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void MsghSize_SmallerThanTheHeader_OrUnaligned_IsRejected()
    {
        var delivered = DeliveredInline(8);
        SetSize(delivered, 20);
        Assert.Equal(MachMessageStatus.SizeTooSmall, MachMessageCodec.Decode(delivered).Status);
        SetSize(delivered, 0);
        Assert.Equal(MachMessageStatus.SizeTooSmall, MachMessageCodec.Decode(delivered).Status);
        SetSize(delivered, 30);
        Assert.Equal(MachMessageStatus.SizeNotAligned, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void BufferShorterThanHeaderAndTrailer_IsRejected() =>
        Assert.Equal(MachMessageStatus.BufferTooSmall, MachMessageCodec.Decode(new byte[MachMessageCodec.HeaderSize + 10]).Status);

    [Fact]
    public void MissingAuditTrailer_IsRejected()
    {
        var delivered = DeliveredInline(8);
        var size = (int)KernelSimulator.Header(delivered).Size;
        MemoryMarshal.Write(delivered.AsSpan(size + 4), 8u);
        Assert.Equal(MachMessageStatus.TrailerInvalid, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void ComplexBit_WithoutDescriptors_IsRejected()
    {
        var delivered = DeliveredOutOfLine();
        MemoryMarshal.Write(delivered.AsSpan(24), 0u);
        Assert.Equal(MachMessageStatus.ComplexWithoutDescriptors, MachMessageCodec.Decode(delivered).Status);
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(1_000_000u)]
    [InlineData(uint.MaxValue)]
    public void DescriptorCount_TooLarge_IsRejected(uint count)
    {
        var delivered = DeliveredOutOfLine();
        MemoryMarshal.Write(delivered.AsSpan(24), count);
        Assert.Equal(MachMessageStatus.TooManyDescriptors, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void ComplexBit_OnAMessageWithoutDescriptors_IsRejected()
    {
        var sent = new byte[MachMessageCodec.HeaderSize + 16];
        MachMessageCodec.EncodeEndOfStream(sent, ServicePort);
        var header = KernelSimulator.Header(sent);
        header.Bits |= MACH_MSGH_BITS_COMPLEX;
        header.Size = MachMessageCodec.HeaderSize + 16;
        KernelSimulator.SetHeader(sent, header);
        MemoryMarshal.Write(sent.AsSpan(24), 1u);
        MemoryMarshal.Write(sent.AsSpan(28), new MachPortDescriptor { Name = 0x505, Bits = MachPortDescriptor.PackBits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_PORT_DESCRIPTOR) });
        Assert.Equal(MachMessageStatus.UnexpectedDescriptor, MachMessageCodec.Decode(KernelSimulator.Deliver(sent, Peer)).Status);
    }

    [Fact]
    public void DescriptorsWithoutTheComplexBit_AreNotTrusted()
    {
        var delivered = DeliveredOutOfLine();
        var header = KernelSimulator.Header(delivered);
        header.Bits &= ~MACH_MSGH_BITS_COMPLEX;
        KernelSimulator.SetHeader(delivered, header);
        Assert.Equal(MachMessageStatus.MissingDescriptor, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void DescriptorRunningPastTheMessage_IsRejected()
    {
        var delivered = DeliveredOutOfLine();
        SetSize(delivered, 40);
        KernelSimulator.WriteTrailer(delivered, 40, Peer);
        Assert.Equal(MachMessageStatus.DescriptorBeyondMessage, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void WrongDescriptorType_IsRejected()
    {
        // A handshake whose descriptor claims to be memory.
        var connect = DeliveredConnect();
        var port = MemoryMarshal.Read<MachPortDescriptor>(connect.AsSpan(28));
        port.Bits = MachPortDescriptor.PackBits(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_OOL_DESCRIPTOR);
        MemoryMarshal.Write(connect.AsSpan(28), in port);
        Assert.Equal(MachMessageStatus.WrongDescriptorType, MachMessageCodec.Decode(connect).Status);

        // A data message whose descriptor is a port.
        var data = DeliveredOutOfLine();
        var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(data.AsSpan(28));
        region.Bits = MachOutOfLineDescriptor64.PackBits(region.Deallocate, region.Copy, MACH_MSG_PORT_DESCRIPTOR);
        MemoryMarshal.Write(data.AsSpan(28), in region);
        Assert.Equal(MachMessageStatus.WrongDescriptorType, MachMessageCodec.Decode(data).Status);

        // A type no Mach header defines.
        region.Bits = MachOutOfLineDescriptor64.PackBits(region.Deallocate, region.Copy, 9);
        MemoryMarshal.Write(data.AsSpan(28), in region);
        Assert.Equal(MachMessageStatus.WrongDescriptorType, MachMessageCodec.Decode(data).Status);
    }

    [Theory]
    [InlineData(MACH_MSG_TYPE_PORT_RECEIVE)]
    [InlineData(MACH_MSG_TYPE_PORT_SEND_ONCE)]
    [InlineData(0u)]
    public void HandshakeCarryingAnythingButASendRight_IsRejected(uint disposition)
    {
        var connect = DeliveredConnect();
        var port = MemoryMarshal.Read<MachPortDescriptor>(connect.AsSpan(28));
        port.Bits = MachPortDescriptor.PackBits(disposition, MACH_MSG_PORT_DESCRIPTOR);
        MemoryMarshal.Write(connect.AsSpan(28), in port);
        Assert.Equal(MachMessageStatus.WrongDisposition, MachMessageCodec.Decode(connect).Status);
    }

    [Theory]
    [InlineData(MACH_PORT_NULL)]
    [InlineData(MACH_PORT_DEAD)]
    public void HandshakeWithANullOrDeadName_IsRejected(uint name)
    {
        var connect = DeliveredConnect();
        var port = MemoryMarshal.Read<MachPortDescriptor>(connect.AsSpan(28));
        port.Name = name;
        MemoryMarshal.Write(connect.AsSpan(28), in port);
        Assert.Equal(MachMessageStatus.InvalidPortName, MachMessageCodec.Decode(connect).Status);
    }

    [Fact]
    public void HandshakeOfAnotherVersion_IsReported_WithItsPort_SoItCanBeRefused()
    {
        var connect = DeliveredConnect();
        MemoryMarshal.Write(connect.AsSpan(40), 99u);
        var received = MachMessageCodec.Decode(connect);
        Assert.Equal(MachMessageStatus.UnsupportedVersion, received.Status);
        Assert.Equal(MachMessageKind.Connect, received.Kind);
        Assert.Equal(99u, received.ProtocolVersion);
        Assert.Equal(KernelSimulator.TransferredName, received.Port);
    }

    [Theory]
    [InlineData((uint)(MachMessageCodec.MaxOutOfLineSize + 1))]
    [InlineData(uint.MaxValue)]
    [InlineData(0u)]
    public void OutOfLineSize_OutsideTheLimit_IsRejected(uint size)
    {
        var data = DeliveredOutOfLine();
        var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(data.AsSpan(28));
        region.Size = size;
        MemoryMarshal.Write(data.AsSpan(28), in region);
        Assert.Equal(MachMessageStatus.OutOfLineSizeOutOfRange, MachMessageCodec.Decode(data).Status);
    }

    [Fact]
    public void OutOfLine_NullAddressOrUnknownCopyOption_IsRejected()
    {
        var data = DeliveredOutOfLine();
        var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(data.AsSpan(28));
        var original = region;
        region.Address = 0;
        MemoryMarshal.Write(data.AsSpan(28), in region);
        Assert.Equal(MachMessageStatus.OutOfLineAddressInvalid, MachMessageCodec.Decode(data).Status);

        region = original;
        region.Bits = MachOutOfLineDescriptor64.PackBits(1, 2, MACH_MSG_OOL_DESCRIPTOR);
        MemoryMarshal.Write(data.AsSpan(28), in region);
        Assert.Equal(MachMessageStatus.OutOfLineCopyInvalid, MachMessageCodec.Decode(data).Status);
    }

    [Fact]
    public void InlineLength_Truncated_IsRejected()
    {
        // The message ends where the length field would start.
        var delivered = DeliveredInline(8);
        SetSize(delivered, 24);
        KernelSimulator.WriteTrailer(delivered, 24, Peer);
        Assert.Equal(MachMessageStatus.InlineLengthOutOfRange, MachMessageCodec.Decode(delivered).Status);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(9u)]
    [InlineData(1_000u)]
    [InlineData((uint)(MachMessageCodec.InlineThreshold + 1))]
    [InlineData(uint.MaxValue)]
    public void InlineLength_OutOfRange_IsRejected(uint length)
    {
        var delivered = DeliveredInline(8);
        MemoryMarshal.Write(delivered.AsSpan(24), length);
        Assert.Equal(MachMessageStatus.InlineLengthOutOfRange, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void InlineLength_OverTheThreshold_IsRejected_EvenWhenTheMessageIsThatLong()
    {
        var length = MachMessageCodec.InlineThreshold + 1;
        var delivered = DeliveredInline(8);
        SetSize(delivered, (uint)MachMessageCodec.RoundMessage(28 + length));
        MemoryMarshal.Write(delivered.AsSpan(24), (uint)length);
        KernelSimulator.WriteTrailer(delivered, MachMessageCodec.RoundMessage(28 + length), Peer);
        Assert.Equal(MachMessageStatus.InlineLengthOutOfRange, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void InlineLength_ThatDoesNotMatchMsghSize_IsRejected()
    {
        var delivered = DeliveredInline(8);
        MemoryMarshal.Write(delivered.AsSpan(24), 2u);
        Assert.Equal(MachMessageStatus.WrongSize, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void ReplyRightOrVoucher_IsRejected()
    {
        var delivered = DeliveredInline(8);
        var header = KernelSimulator.Header(delivered);
        header.Bits |= MACH_MSG_TYPE_PORT_SEND;
        header.RemotePort = 0x909;
        KernelSimulator.SetHeader(delivered, header);
        Assert.Equal(MachMessageStatus.UnexpectedPortRights, MachMessageCodec.Decode(delivered).Status);

        delivered = DeliveredInline(8);
        header = KernelSimulator.Header(delivered);
        header.Bits |= MACH_MSGH_BITS_SET_PORTS(0, 0, MACH_MSG_TYPE_PORT_SEND);
        header.VoucherPort = 0x909;
        KernelSimulator.SetHeader(delivered, header);
        Assert.Equal(MachMessageStatus.UnexpectedPortRights, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void UnknownMessageId_IsRejected()
    {
        var delivered = DeliveredInline(8);
        var header = KernelSimulator.Header(delivered);
        header.Id = 0x1234;
        KernelSimulator.SetHeader(delivered, header);
        Assert.Equal(MachMessageStatus.UnknownMessageId, MachMessageCodec.Decode(delivered).Status);
    }

    [Fact]
    public void HeaderOnlyMessages_WithABody_AreRejected()
    {
        var delivered = DeliveredInline(8);
        var header = KernelSimulator.Header(delivered);
        header.Id = MachMessageCodec.EndOfStreamId;
        KernelSimulator.SetHeader(delivered, header);
        Assert.Equal(MachMessageStatus.WrongSize, MachMessageCodec.Decode(delivered).Status);
    }

    // ---- destroying --------------------------------------------------------------------------

    [Fact]
    public void PrepareForDestroy_MarksEveryRegionForDeallocation()
    {
        var sent = new byte[MachMessageCodec.OutOfLineMessageSize];
        MachMessageCodec.EncodeOutOfLineData(sent, ServicePort, 0x7000_0000, 100_000);

        // A physical copy arrives with deallocate clear; a volatile region is skipped by mach_msg_destroy.
        var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(sent.AsSpan(28));
        region.Bits = MachOutOfLineDescriptor64.PackBits(0, MACH_MSG_PHYSICAL_COPY, MACH_MSG_OOL_VOLATILE_DESCRIPTOR);
        MemoryMarshal.Write(sent.AsSpan(28), in region);
        var delivered = KernelSimulator.Deliver(sent, Peer);

        MachMessageCodec.PrepareForDestroy(delivered);
        var prepared = MemoryMarshal.Read<MachOutOfLineDescriptor64>(delivered.AsSpan(28));
        Assert.Equal(1u, prepared.Deallocate);
        Assert.Equal(MACH_MSG_OOL_DESCRIPTOR, prepared.Type);
        Assert.Equal(KernelSimulator.MappedAddress, prepared.Address);
        Assert.Equal(100_000u, prepared.Size);
    }

    [Fact]
    public void PrepareForDestroy_LeavesPortsAndSimpleMessagesAlone_AndStaysInBounds()
    {
        var connect = DeliveredConnect();
        var before = connect.ToArray();
        MachMessageCodec.PrepareForDestroy(connect);
        Assert.Equal(before, connect);

        var inline = DeliveredInline(40);
        before = inline.ToArray();
        MachMessageCodec.PrepareForDestroy(inline);
        Assert.Equal(before, inline);

        // A huge count in a short message stops at msgh_size.
        var data = DeliveredOutOfLine();
        MemoryMarshal.Write(data.AsSpan(24), uint.MaxValue);
        MachMessageCodec.PrepareForDestroy(data);
        MachMessageCodec.PrepareForDestroy(data.AsSpan(0, 30));
    }

    // ---- encoding limits ---------------------------------------------------------------------

    [Fact]
    public void Encoders_RefuseSizesOutsideTheirRange()
    {
        var buffer = new byte[MachMessageCodec.MaxMessageSize + 64];
        Assert.Throws<ArgumentOutOfRangeException>(() => MachMessageCodec.EncodeInlineData(buffer, ServicePort, ReadOnlySequence<byte>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => MachMessageCodec.EncodeInlineData(buffer, ServicePort, new ReadOnlySequence<byte>(new byte[MachMessageCodec.InlineThreshold + 1])));
        Assert.Throws<ArgumentOutOfRangeException>(() => MachMessageCodec.EncodeOutOfLineData(buffer, ServicePort, 0x7000_0000, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => MachMessageCodec.EncodeOutOfLineData(buffer, ServicePort, 0x7000_0000, MachMessageCodec.MaxOutOfLineSize + 1));
        Assert.Throws<ArgumentException>(() => MachMessageCodec.EncodeConnect(new byte[47], ServicePort, OwnPort));
    }

    // ---- helpers -----------------------------------------------------------------------------

    private static byte[] DeliveredInline(int length)
    {
        var sent = new byte[MachMessageCodec.MaxMessageSize];
        MachMessageCodec.EncodeInlineData(sent, ServicePort, new ReadOnlySequence<byte>(Pattern(length)));
        var delivered = KernelSimulator.Deliver(sent, Peer);
        Assert.Equal(MachMessageStatus.Valid, MachMessageCodec.Decode(delivered).Status);
        return delivered;
    }

    private static byte[] DeliveredOutOfLine()
    {
        var sent = new byte[MachMessageCodec.OutOfLineMessageSize];
        MachMessageCodec.EncodeOutOfLineData(sent, ServicePort, 0x7000_0000, 100_000);
        var delivered = KernelSimulator.Deliver(sent, Peer);
        Assert.Equal(MachMessageStatus.Valid, MachMessageCodec.Decode(delivered).Status);
        return delivered;
    }

    private static byte[] DeliveredConnect()
    {
        var sent = new byte[MachMessageCodec.HandshakeSize];
        MachMessageCodec.EncodeConnect(sent, ServicePort, OwnPort);
        var delivered = KernelSimulator.Deliver(sent, Peer);
        Assert.Equal(MachMessageStatus.Valid, MachMessageCodec.Decode(delivered).Status);
        return delivered;
    }

    private static void SetSize(byte[] message, uint size)
    {
        var header = KernelSimulator.Header(message);
        header.Size = size;
        KernelSimulator.SetHeader(message, header);
    }

    private static byte[] Pattern(int length, int seed = 1)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = (byte)((i * 31) + seed);
        }

        return bytes;
    }

    private static ReadOnlySequence<byte> Chain(byte[] first, byte[] second)
    {
        var head = new Segment(first, 0);
        var tail = head.Append(second);
        return new ReadOnlySequence<byte>(head, 0, tail, second.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
