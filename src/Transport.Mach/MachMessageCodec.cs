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
internal static partial class MachMessageCodec
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

    private static T Read<T>(ReadOnlySpan<byte> buffer, int offset)
        where T : unmanaged => MemoryMarshal.Read<T>(buffer[offset..]);

    private static void Write<T>(Span<byte> buffer, int offset, T value)
        where T : unmanaged => MemoryMarshal.Write(buffer[offset..], in value);
}
