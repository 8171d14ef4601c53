using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Sandgrain.Transport.Conformance;

/// <summary>A minimal length-prefixed framing for tests, so tests can check frame boundaries and content.</summary>
public static class Frames
{
    /// <summary>Writes a 4-byte little-endian length and the payload, then flushes.</summary>
    public static async ValueTask<FlushResult> WriteAsync(PipeWriter writer, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        Write(writer, payload.Span);
        return await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a frame without flushing.</summary>
    public static void Write(PipeWriter writer, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), payload.Length);
        writer.Advance(4);
        while (!payload.IsEmpty)
        {
            var span = writer.GetSpan(1);
            var n = Math.Min(span.Length, payload.Length);
            payload[..n].CopyTo(span);
            writer.Advance(n);
            payload = payload[n..];
        }
    }

    /// <summary>Reads one frame; null at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">The stream ended inside a frame.</exception>
    public static async ValueTask<byte[]?> ReadAsync(PipeReader reader, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryParse(ref buffer, out var frame))
            {
                reader.AdvanceTo(buffer.Start);
                return frame;
            }

            if (result.IsCompleted)
            {
                var leftover = buffer.Length;
                reader.AdvanceTo(buffer.End);
                return leftover == 0 ? null : throw new InvalidDataException($"The stream ended inside a frame ({leftover} bytes of it).");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>A payload of <paramref name="length"/> bytes whose content depends on <paramref name="seed"/>.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        var x = (uint)seed * 2654435761u + 1;
        for (var i = 0; i < length; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes[i] = (byte)x;
        }

        return bytes;
    }

    private static bool TryParse(ref ReadOnlySequence<byte> buffer, out byte[]? frame)
    {
        frame = null;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 0)
        {
            throw new InvalidDataException($"Negative frame length {length}.");
        }

        if (buffer.Length < 4 + (long)length)
        {
            return false;
        }

        frame = buffer.Slice(4, length).ToArray();
        buffer = buffer.Slice(4 + length);
        return true;
    }
}
