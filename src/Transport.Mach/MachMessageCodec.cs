using System.Buffers;
using System.Runtime.InteropServices;
using Sandgrain.Transport.Mach.Interop;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// The wire format of the Mach transport, in plain bytes so that it is tested on every platform: encodes the
/// messages this transport sends and validates every message it receives before anything in it is used.
/// </summary>
/// <remarks>
/// <para>
/// Messages, by <c>msgh_id</c> (ids in the 0x5347xxxx range, "SG", clear of the kernel's notification ids 64-77):
/// </para>
/// <list type="bullet">
/// <item><b>Connect</b> (client to listener) and <b>ConnectReply</b> (listener to client): complex, one port
/// descriptor with <c>MACH_MSG_TYPE_MAKE_SEND</c> for the sender's receive port, then the protocol version and a
/// reserved word: 48 bytes.</item>
/// <item><b>ConnectRefused</b>: header, protocol version, reason: 32 bytes; it moves the client's send right back.</item>
/// <item><b>InlineData</b>: header, a 32-bit length, 1 to <see cref="InlineThreshold"/> bytes, padded to 4.</item>
/// <item><b>OutOfLineData</b>: complex, one <c>mach_msg_ool_descriptor64_t</c> (virtual copy) of up to
/// <see cref="MaxOutOfLineSize"/> bytes: 44 bytes.</item>
/// <item><b>EndOfStream</b> and <b>WakeUp</b>: the header alone.</item>
/// </list>
/// <para>
/// Sent messages name the destination with a send right (COPY_SEND, MOVE_SEND for a refusal, MAKE_SEND for a
/// wake-up to one's own port) and never carry a reply port or a voucher. Received messages are validated against
/// exactly that (msgh_size within the buffer with room for the audit trailer, complex bit against the descriptor
/// count, descriptor type and disposition per id, out-of-line size limits, inline length in range), and
/// <see cref="Decode"/> reports a <see cref="MachMessageStatus"/> instead of throwing, so that the caller can
/// destroy a rejected message and release whatever it carries. Everything is in native byte order, which is the
/// order the kernel reads; Mach messages never leave the machine.
/// </para>
/// </remarks>
internal static class MachMessageCodec
{
    /// <summary>The version exchanged in the handshake; a listener refuses any other.</summary>
    internal const uint ProtocolVersion = 1;

    /// <summary>Largest payload carried inline; anything larger goes out of line, where the kernel maps pages instead of copying bytes.</summary>
    internal const int InlineThreshold = 16 * 1024;

    /// <summary>Largest out-of-line region: with the queue limit it bounds what a slow reader lets a writer queue in the kernel.</summary>
    internal const int MaxOutOfLineSize = 256 * 1024;

    /// <summary>One descriptor at most: a port in a handshake, or a region in a data message.</summary>
    internal const uint MaxDescriptors = 1;

    internal const int ConnectId = 0x5347_0001;
    internal const int ConnectReplyId = 0x5347_0002;
    internal const int ConnectRefusedId = 0x5347_0003;
    internal const int InlineDataId = 0x5347_0010;
    internal const int OutOfLineDataId = 0x5347_0011;
    internal const int EndOfStreamId = 0x5347_0012;
    internal const int WakeUpId = 0x5347_00FF;

    internal const int HeaderSize = MachMsgHeaderSize;
    internal const int BaseSize = MachMsgHeaderSize + MachMsgBodySize;
    internal const int HandshakeSize = BaseSize + MachMsgPortDescriptorSize + 8;
    internal const int ConnectRefusedSize = HeaderSize + 8;
    internal const int InlinePrefixSize = HeaderSize + 4;
    internal const int OutOfLineMessageSize = BaseSize + MachMsgOolDescriptor64Size;

    /// <summary>The largest message this transport sends.</summary>
    internal const int MaxMessageSize = InlinePrefixSize + InlineThreshold;

    /// <summary>
    /// Receive buffer for connections: the largest message plus the largest trailer the kernel can append
    /// (<c>MAX_TRAILER_SIZE</c>), rounded up. Anything larger fails with MACH_RCV_TOO_LARGE and is destroyed by the kernel.
    /// </summary>
    internal const int ReceiveBufferSize = 17 * 1024;

    /// <summary>Receive buffer for handshakes and listeners: handshakes and notifications only.</summary>
    internal const int SmallReceiveBufferSize = 512;

    // ---- encoding ---------------------------------------------------------------------------------

    /// <summary>Connect: to the listener's service port, carrying a send right made from the client's receive port.</summary>
    internal static int EncodeConnect(Span<byte> buffer, uint servicePort, uint clientReceivePort) =>
        EncodeHandshake(buffer, ConnectId, servicePort, clientReceivePort);

    /// <summary>ConnectReply: to the client's port, carrying a send right made from the connection's receive port.</summary>
    internal static int EncodeConnectReply(Span<byte> buffer, uint clientPort, uint connectionReceivePort) =>
        EncodeHandshake(buffer, ConnectReplyId, clientPort, connectionReceivePort);

    /// <summary>ConnectRefused: moves the listener's only send right to the client's port back with the message.</summary>
    internal static int EncodeConnectRefused(Span<byte> buffer, uint clientPort, MachRefusal reason)
    {
        var message = Reserve(buffer, ConnectRefusedSize);
        WriteHeader(message, MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0), ConnectRefusedSize, clientPort, ConnectRefusedId);
        Write(message, HeaderSize, ProtocolVersion);
        Write(message, HeaderSize + 4, (uint)reason);
        return ConnectRefusedSize;
    }

    /// <summary>InlineData: 1 to <see cref="InlineThreshold"/> bytes copied into the message.</summary>
    internal static int EncodeInlineData(Span<byte> buffer, uint peerPort, ReadOnlySequence<byte> payload)
    {
        if (payload.Length is < 1 or > InlineThreshold)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"An inline message carries 1 to {InlineThreshold} bytes.");
        }

        var length = (int)payload.Length;
        var size = RoundMessage(InlinePrefixSize + length);
        var message = Reserve(buffer, size);
        WriteHeader(message, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), size, peerPort, InlineDataId);
        Write(message, HeaderSize, (uint)length);
        payload.CopyTo(message[InlinePrefixSize..]);
        return size;
    }

    /// <summary>OutOfLineData: a region the kernel maps into the receiver copy-on-write; the sender keeps its memory.</summary>
    internal static int EncodeOutOfLineData(Span<byte> buffer, uint peerPort, ulong address, int length)
    {
        if (length is < 1 or > MaxOutOfLineSize)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"An out-of-line message carries 1 to {MaxOutOfLineSize} bytes.");
        }

        var message = Reserve(buffer, OutOfLineMessageSize);
        WriteHeader(message, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX, OutOfLineMessageSize, peerPort, OutOfLineDataId);
        Write(message, HeaderSize, new MachMessageBody { DescriptorCount = 1 });
        Write(message, BaseSize, new MachOutOfLineDescriptor64
        {
            Address = address,
            Bits = MachOutOfLineDescriptor64.PackBits(deallocate: 0, MACH_MSG_VIRTUAL_COPY, MACH_MSG_OOL_DESCRIPTOR),
            Size = (uint)length,
        });
        return OutOfLineMessageSize;
    }

    /// <summary>EndOfStream: the header alone.</summary>
    internal static int EncodeEndOfStream(Span<byte> buffer, uint peerPort)
    {
        WriteHeader(Reserve(buffer, HeaderSize), MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), HeaderSize, peerPort, EndOfStreamId);
        return HeaderSize;
    }

    /// <summary>WakeUp: sent by the holder of a receive right to itself, hence MAKE_SEND; the receive consumes that right.</summary>
    internal static int EncodeWakeUp(Span<byte> buffer, uint ownReceivePort)
    {
        WriteHeader(Reserve(buffer, HeaderSize), MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0), HeaderSize, ownReceivePort, WakeUpId);
        return HeaderSize;
    }

    /// <summary><c>round_msg</c>: message sizes are multiples of <c>sizeof(natural_t)</c>.</summary>
    internal static int RoundMessage(int size) => (size + 3) & ~3;

    private static int EncodeHandshake(Span<byte> buffer, int id, uint destination, uint ownReceivePort)
    {
        var message = Reserve(buffer, HandshakeSize);
        WriteHeader(message, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX, HandshakeSize, destination, id);
        Write(message, HeaderSize, new MachMessageBody { DescriptorCount = 1 });
        Write(message, BaseSize, new MachPortDescriptor
        {
            Name = ownReceivePort,
            Pad1 = 0,
            Bits = MachPortDescriptor.PackBits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_PORT_DESCRIPTOR),
        });
        Write(message, BaseSize + MachMsgPortDescriptorSize, ProtocolVersion);
        return HandshakeSize;
    }

    private static Span<byte> Reserve(Span<byte> buffer, int size)
    {
        if (buffer.Length < size)
        {
            throw new ArgumentException($"The message needs {size} bytes; the buffer has {buffer.Length}.", nameof(buffer));
        }

        var message = buffer[..size];
        message.Clear();
        return message;
    }

    private static void WriteHeader(Span<byte> message, uint bits, int size, uint destination, int id) =>
        Write(message, 0, new MachMessageHeader
        {
            Bits = bits,
            Size = (uint)size,
            RemotePort = destination,
            LocalPort = MACH_PORT_NULL,
            VoucherPort = MACH_PORT_NULL,
            Id = id,
        });

    // ---- decoding ---------------------------------------------------------------------------------

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

    private static T Read<T>(ReadOnlySpan<byte> buffer, int offset)
        where T : unmanaged => MemoryMarshal.Read<T>(buffer[offset..]);

    private static void Write<T>(Span<byte> buffer, int offset, T value)
        where T : unmanaged => MemoryMarshal.Write(buffer[offset..], in value);
}
