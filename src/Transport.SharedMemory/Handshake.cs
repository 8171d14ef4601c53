using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// The companion-socket handshake. Client: <c>hello</c> = magic u32, version u16, wake mechanisms u8,
/// segment kind u8 (0: a file in the container, named here; 1: sealed memory, passed with the hello's first byte
/// as a descriptor, and no name), ring capacity u32, segment name length u16, segment name (ASCII). Server: <c>reply</c> =
/// magic u32, status u8 (0 accepted), chosen mechanism u8, message length u16, message (UTF-8).
/// Every length is checked against a limit before anything is allocated for it.
/// </summary>
internal static class Handshake
{
    internal const uint Magic = 0x48534753; // "SGSH"
    internal const ushort Version = 2;
    internal const byte NamedSegment = 0;
    internal const byte SealedSegment = 1;
    internal const int MaxSegmentNameLength = 64;
    internal const int MaxMessageLength = 1024;
    private const int HelloFixedLength = 14;
    private const int ReplyFixedLength = 8;

    /// <summary>A client's hello; <paramref name="SegmentName"/> is empty when the segment is sealed memory passed by descriptor.</summary>
    internal sealed record Hello(WakeMechanism Mechanisms, int Capacity, string SegmentName)
    {
        internal bool Sealed => SegmentName.Length == 0;
    }

    internal sealed record Reply(bool Accepted, WakeMechanism Mechanism, string Message);

    internal static byte[] EncodeHello(Hello hello)
    {
        var name = Encoding.ASCII.GetBytes(hello.SegmentName);
        var bytes = new byte[HelloFixedLength + name.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(4), Version);
        bytes[6] = (byte)hello.Mechanisms;
        bytes[7] = hello.Sealed ? SealedSegment : NamedSegment;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), hello.Capacity);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(12), (ushort)name.Length);
        name.CopyTo(bytes, 14);
        return bytes;
    }

    internal static async ValueTask<Hello> ReadHelloAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var head = await ReadExactAsync(input, HelloFixedLength, cancellationToken).ConfigureAwait(false);
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (magic != Magic)
        {
            throw new InvalidDataException($"The connecting peer sent magic 0x{magic:x8}, expected 0x{Magic:x8}: it is not a Sandgrain shared-memory client.");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(4));
        if (version != Version)
        {
            throw new InvalidDataException($"The connecting peer speaks shared-memory handshake version {version}; this build speaks {Version}.");
        }

        var capacity = BinaryPrimitives.ReadInt32LittleEndian(head.AsSpan(8));
        if (!SegmentLayout.IsValidCapacity(capacity))
        {
            throw new InvalidDataException($"The connecting peer announced ring capacity {capacity}; it must be a power of two from {SegmentLayout.MinCapacity} to {SegmentLayout.MaxCapacity}.");
        }

        var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(12));
        if (head[7] == SealedSegment)
        {
            if (nameLength != 0)
            {
                throw new InvalidDataException($"The connecting peer passes its segment by descriptor and also names one ({nameLength} bytes); a sealed segment has no name.");
            }

            return new Hello((WakeMechanism)head[6], capacity, "");
        }

        if (head[7] != NamedSegment)
        {
            throw new InvalidDataException($"The connecting peer announced segment kind {head[7]}; this build knows {NamedSegment} (a named file) and {SealedSegment} (sealed memory by descriptor).");
        }

        if (nameLength is 0 or > MaxSegmentNameLength)
        {
            throw new InvalidDataException($"The connecting peer announced a segment name of {nameLength} bytes; the limit is {MaxSegmentNameLength}.");
        }

        var name = Encoding.ASCII.GetString(await ReadExactAsync(input, nameLength, cancellationToken).ConfigureAwait(false));
        if (!IsSegmentName(name))
        {
            throw new InvalidDataException($"The connecting peer announced segment name '{name}', which is not a generated segment name (16 hex digits and '.seg').");
        }

        return new Hello((WakeMechanism)head[6], capacity, name);
    }

    internal static void WriteReply(PipeWriter output, Reply reply)
    {
        var message = Encoding.UTF8.GetBytes(reply.Message.Length > MaxMessageLength / 4 ? reply.Message[..(MaxMessageLength / 4)] : reply.Message);
        var span = output.GetSpan(ReplyFixedLength + message.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(span, Magic);
        span[4] = reply.Accepted ? (byte)0 : (byte)1;
        span[5] = (byte)reply.Mechanism;
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], (ushort)message.Length);
        message.CopyTo(span[8..]);
        output.Advance(ReplyFixedLength + message.Length);
    }

    internal static async ValueTask<Reply> ReadReplyAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var head = await ReadExactAsync(input, ReplyFixedLength, cancellationToken).ConfigureAwait(false);
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (magic != Magic)
        {
            throw new InvalidDataException($"The listener answered with magic 0x{magic:x8}, expected 0x{Magic:x8}: it is not a Sandgrain shared-memory listener.");
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(6));
        if (length > MaxMessageLength)
        {
            throw new InvalidDataException($"The listener's handshake message is {length} bytes; the limit is {MaxMessageLength}.");
        }

        var message = length == 0 ? "" : Encoding.UTF8.GetString(await ReadExactAsync(input, length, cancellationToken).ConfigureAwait(false));
        var mechanism = (WakeMechanism)head[5];
        if (head[4] == 0 && mechanism is not (WakeMechanism.Futex or WakeMechanism.OsSync or WakeMechanism.Doorbell))
        {
            throw new InvalidDataException($"The listener chose wake mechanism {head[5]}, which this build does not know.");
        }

        return new Reply(head[4] == 0, mechanism, message);
    }

    internal static bool IsSegmentName(string name) =>
        name.Length == 20 && name.EndsWith(".seg", StringComparison.Ordinal) && name.AsSpan(0, 16).IndexOfAnyExcept("0123456789abcdef") < 0;

    private static async ValueTask<byte[]> ReadExactAsync(PipeReader input, int count, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= count)
            {
                var bytes = buffer.Slice(0, count).ToArray();
                input.AdvanceTo(buffer.GetPosition(count));
                return bytes;
            }

            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"The peer closed the companion socket during the handshake ({buffer.Length} of {count} bytes received).");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
