using Sandgrain.Transport.Mach.Interop;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach;

internal static partial class MachMessageCodec
{
    /// <summary>
    /// Validates a message as <c>mach_msg</c> received it into <paramref name="buffer"/> (the whole receive buffer,
    /// whose length was passed as <c>rcv_size</c>, with the audit trailer requested).
    /// </summary>
    internal static MachReceivedMessage Decode(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < HeaderSize + MachMsgAuditTrailerSize)
        {
            return new MachReceivedMessage { Status = MachMessageStatus.BufferTooSmall };
        }

        var header = Read<MachMessageHeader>(buffer, 0);
        var size = header.Size;
        var rejected = new MachReceivedMessage { MessageId = header.Id, Size = size > int.MaxValue ? int.MaxValue : (int)size };
        if (size < HeaderSize)
        {
            return rejected with { Status = MachMessageStatus.SizeTooSmall };
        }

        if ((size & 3) != 0)
        {
            return rejected with { Status = MachMessageStatus.SizeNotAligned };
        }

        if (size > (uint)(buffer.Length - MachMsgAuditTrailerSize))
        {
            return rejected with { Status = MachMessageStatus.SizeBeyondBuffer };
        }

        var trailer = Read<MachAuditTrailer>(buffer, (int)size);
        if (trailer.TrailerType != MACH_MSG_TRAILER_FORMAT_0 || trailer.TrailerSize < MachMsgAuditTrailerSize)
        {
            return rejected with { Status = MachMessageStatus.TrailerInvalid };
        }

        var message = rejected with { HasSender = true, Sender = trailer.Audit };
        if (MACH_MSGH_BITS_REMOTE(header.Bits) != 0 || header.RemotePort != MACH_PORT_NULL ||
            MACH_MSGH_BITS_VOUCHER(header.Bits) != 0 || header.VoucherPort != MACH_PORT_NULL)
        {
            return message with { Status = MachMessageStatus.UnexpectedPortRights };
        }

        var complex = (header.Bits & MACH_MSGH_BITS_COMPLEX) != 0;
        var descriptorType = uint.MaxValue;
        if (complex)
        {
            var status = CheckDescriptors(buffer, size, out descriptorType);
            if (status != MachMessageStatus.Valid)
            {
                return message with { Status = status };
            }
        }

        return header.Id switch
        {
            ConnectId => DecodeHandshake(buffer, message, complex, descriptorType, MachMessageKind.Connect),
            ConnectReplyId => DecodeHandshake(buffer, message, complex, descriptorType, MachMessageKind.ConnectReply),
            ConnectRefusedId => DecodeRefusal(buffer, message, complex),
            InlineDataId => DecodeInline(buffer, message, complex),
            OutOfLineDataId => DecodeOutOfLine(buffer, message, complex, descriptorType),
            EndOfStreamId => DecodeHeaderOnly(message, complex, MachMessageKind.EndOfStream),
            WakeUpId => DecodeHeaderOnly(message, complex, MachMessageKind.WakeUp),
            MACH_NOTIFY_DEAD_NAME => DecodeNotification(buffer, message, complex, MachMessageKind.DeadName, MachNotificationWithNameSize),
            MACH_NOTIFY_PORT_DELETED => DecodeNotification(buffer, message, complex, MachMessageKind.PortDeleted, MachNotificationWithNameSize),
            MACH_NOTIFY_NO_SENDERS => DecodeNotification(buffer, message, complex, MachMessageKind.NoSenders, MachNoSendersNotificationSize),
            MACH_NOTIFY_SEND_ONCE => DecodeNotification(buffer, message, complex, MachMessageKind.SendOnce, MachSendOnceNotificationSize),
            _ => message with { Status = MachMessageStatus.UnknownMessageId },
        };
    }

    /// <summary>
    /// Prepares a rejected or unwanted received message for <c>mach_msg_destroy</c>: that function frees an
    /// out-of-line region only when its <c>deallocate</c> flag is set, and the kernel sets the flag on receipt
    /// only for virtual copies, so a physical-copy (or volatile) region from a hostile sender would leak. Every
    /// region the kernel mapped into this process is ours to free, so the flag is set on all of them. Walks no
    /// further than <c>msgh_size</c> and the buffer.
    /// </summary>
    internal static void PrepareForDestroy(Span<byte> buffer)
    {
        if (buffer.Length < BaseSize)
        {
            return;
        }

        var header = Read<MachMessageHeader>(buffer, 0);
        if ((header.Bits & MACH_MSGH_BITS_COMPLEX) == 0)
        {
            return;
        }

        var end = (int)Math.Min(header.Size, (uint)buffer.Length);
        var count = Read<MachMessageBody>(buffer, HeaderSize).DescriptorCount;
        var offset = BaseSize;
        for (uint i = 0; i < count; i++)
        {
            if (offset + MachMsgPortDescriptorSize > end)
            {
                return;
            }

            var type = Read<uint>(buffer, offset + 8) >> 24;
            var length = DescriptorSize(type);
            if (length == 0 || offset + length > end)
            {
                return;
            }

            if (type is MACH_MSG_OOL_DESCRIPTOR or MACH_MSG_OOL_VOLATILE_DESCRIPTOR)
            {
                var descriptor = Read<MachOutOfLineDescriptor64>(buffer, offset);

                // mach_msg_destroy skips volatile regions entirely; as plain regions they are freed like the rest.
                descriptor.Bits = MachOutOfLineDescriptor64.PackBits(deallocate: 1, descriptor.Copy, MACH_MSG_OOL_DESCRIPTOR);
                Write(buffer, offset, descriptor);
            }

            offset += length;
        }
    }

    private static MachMessageStatus CheckDescriptors(ReadOnlySpan<byte> buffer, uint size, out uint descriptorType)
    {
        descriptorType = uint.MaxValue;
        if (size < BaseSize)
        {
            return MachMessageStatus.SizeTooSmall;
        }

        var count = Read<MachMessageBody>(buffer, HeaderSize).DescriptorCount;
        if (count == 0)
        {
            return MachMessageStatus.ComplexWithoutDescriptors;
        }

        if (count > MaxDescriptors)
        {
            return MachMessageStatus.TooManyDescriptors;
        }

        if (size < BaseSize + MachMsgPortDescriptorSize)
        {
            return MachMessageStatus.DescriptorBeyondMessage;
        }

        descriptorType = Read<uint>(buffer, BaseSize + 8) >> 24;
        var length = DescriptorSize(descriptorType);
        if (length == 0)
        {
            return MachMessageStatus.WrongDescriptorType;
        }

        return BaseSize + length > size ? MachMessageStatus.DescriptorBeyondMessage : MachMessageStatus.Valid;
    }

    /// <summary>Size of a descriptor in a 64-bit receiver, by type; 0 for a type this code does not know.</summary>
    private static int DescriptorSize(uint type) => type switch
    {
        MACH_MSG_PORT_DESCRIPTOR => MachMsgPortDescriptorSize,
        MACH_MSG_OOL_DESCRIPTOR or MACH_MSG_OOL_VOLATILE_DESCRIPTOR => MachMsgOolDescriptor64Size,
        MACH_MSG_OOL_PORTS_DESCRIPTOR or MACH_MSG_GUARDED_PORT_DESCRIPTOR => MachMsgLargeDescriptorSize,
        _ => 0,
    };

    private static MachReceivedMessage DecodeHandshake(ReadOnlySpan<byte> buffer, MachReceivedMessage message, bool complex, uint descriptorType, MachMessageKind kind)
    {
        if (!complex)
        {
            return message with { Status = MachMessageStatus.MissingDescriptor };
        }

        if (descriptorType != MACH_MSG_PORT_DESCRIPTOR)
        {
            return message with { Status = MachMessageStatus.WrongDescriptorType };
        }

        var descriptor = Read<MachPortDescriptor>(buffer, BaseSize);
        if (descriptor.Disposition != MACH_MSG_TYPE_PORT_SEND)
        {
            return message with { Status = MachMessageStatus.WrongDisposition };
        }

        if (message.Size != HandshakeSize)
        {
            return message with { Status = MachMessageStatus.WrongSize };
        }

        if (!MACH_PORT_VALID(descriptor.Name))
        {
            return message with { Status = MachMessageStatus.InvalidPortName };
        }

        var version = Read<uint>(buffer, BaseSize + MachMsgPortDescriptorSize);
        var decoded = message with { Kind = kind, Port = descriptor.Name, ProtocolVersion = version };
        return decoded with { Status = version == ProtocolVersion ? MachMessageStatus.Valid : MachMessageStatus.UnsupportedVersion };
    }

    private static MachReceivedMessage DecodeRefusal(ReadOnlySpan<byte> buffer, MachReceivedMessage message, bool complex)
    {
        if (complex)
        {
            return message with { Status = MachMessageStatus.UnexpectedDescriptor };
        }

        if (message.Size != ConnectRefusedSize)
        {
            return message with { Status = MachMessageStatus.WrongSize };
        }

        return message with
        {
            Status = MachMessageStatus.Valid,
            Kind = MachMessageKind.ConnectRefused,
            ProtocolVersion = Read<uint>(buffer, HeaderSize),
            Refusal = (MachRefusal)Read<uint>(buffer, HeaderSize + 4),
        };
    }

    private static MachReceivedMessage DecodeInline(ReadOnlySpan<byte> buffer, MachReceivedMessage message, bool complex)
    {
        if (complex)
        {
            return message with { Status = MachMessageStatus.UnexpectedDescriptor };
        }

        if (message.Size < InlinePrefixSize)
        {
            return message with { Status = MachMessageStatus.InlineLengthOutOfRange };
        }

        // Checked as unsigned against the named limit before it is used for anything.
        var length = Read<uint>(buffer, HeaderSize);
        if (length == 0 || length > InlineThreshold || length > (uint)(message.Size - InlinePrefixSize))
        {
            return message with { Status = MachMessageStatus.InlineLengthOutOfRange };
        }

        if (RoundMessage(InlinePrefixSize + (int)length) != message.Size)
        {
            return message with { Status = MachMessageStatus.WrongSize };
        }

        return message with
        {
            Status = MachMessageStatus.Valid,
            Kind = MachMessageKind.InlineData,
            PayloadOffset = InlinePrefixSize,
            PayloadLength = (int)length,
        };
    }

    private static MachReceivedMessage DecodeOutOfLine(ReadOnlySpan<byte> buffer, MachReceivedMessage message, bool complex, uint descriptorType)
    {
        if (!complex)
        {
            return message with { Status = MachMessageStatus.MissingDescriptor };
        }

        if (descriptorType != MACH_MSG_OOL_DESCRIPTOR)
        {
            return message with { Status = MachMessageStatus.WrongDescriptorType };
        }

        if (message.Size != OutOfLineMessageSize)
        {
            return message with { Status = MachMessageStatus.WrongSize };
        }

        var descriptor = Read<MachOutOfLineDescriptor64>(buffer, BaseSize);
        if (descriptor.Copy is not (MACH_MSG_PHYSICAL_COPY or MACH_MSG_VIRTUAL_COPY))
        {
            return message with { Status = MachMessageStatus.OutOfLineCopyInvalid };
        }

        if (descriptor.Size is 0 or > MaxOutOfLineSize)
        {
            return message with { Status = MachMessageStatus.OutOfLineSizeOutOfRange };
        }

        if (descriptor.Address == 0)
        {
            return message with { Status = MachMessageStatus.OutOfLineAddressInvalid };
        }

        return message with
        {
            Status = MachMessageStatus.Valid,
            Kind = MachMessageKind.OutOfLineData,
            OutOfLineAddress = descriptor.Address,
            OutOfLineSize = (int)descriptor.Size,
        };
    }

    private static MachReceivedMessage DecodeHeaderOnly(MachReceivedMessage message, bool complex, MachMessageKind kind)
    {
        if (complex)
        {
            return message with { Status = MachMessageStatus.UnexpectedDescriptor };
        }

        return message.Size == HeaderSize
            ? message with { Status = MachMessageStatus.Valid, Kind = kind }
            : message with { Status = MachMessageStatus.WrongSize };
    }

    private static MachReceivedMessage DecodeNotification(ReadOnlySpan<byte> buffer, MachReceivedMessage message, bool complex, MachMessageKind kind, int expectedSize)
    {
        // Any process holding a send right could forge a notification id; only the kernel's token is believed.
        if (!message.Sender.IsKernel)
        {
            return message with { Status = MachMessageStatus.NotFromKernel };
        }

        if (complex)
        {
            return message with { Status = MachMessageStatus.UnexpectedDescriptor };
        }

        if (message.Size != expectedSize)
        {
            return message with { Status = MachMessageStatus.WrongSize };
        }

        var port = kind is MachMessageKind.DeadName or MachMessageKind.PortDeleted
            ? Read<MachDeadNameNotification>(buffer, 0).NotPort
            : MACH_PORT_NULL;
        return message with { Status = MachMessageStatus.Valid, Kind = kind, Port = port };
    }
}
