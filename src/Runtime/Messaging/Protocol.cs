using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using MessagePack;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The wire format. A frame is a 4-byte little-endian length (of what follows), a kind byte and a payload.
/// Every length read from the wire is checked as unsigned against a named limit before anything waits for or
/// allocates that many bytes (style.md item 5).
/// </summary>
/// <remarks>
/// Hello: magic "SGRT" (u32), protocol version (u16), flags (u16), silo id (16 ASCII hex digits), nonce length
/// (u16) and a fresh nonce. Proof: the HMAC-SHA256 of the group secret over the peer's nonce and the sender's
/// silo id (see <see cref="Security.GroupSecret"/>); no request is accepted before it checks out. Request: a MessagePack array
/// [correlation id, flags, timeout ms, interface, key, method id, call chain, traceparent], then the
/// arguments. Response: [correlation id], then the result. Error: [correlation id, kind, type, message,
/// stack]. Cancel, Ping, Pong: [id]. Goodbye: [reason].
/// </remarks>
internal static partial class Protocol
{
    internal const uint Magic = 0x54524753; // "SGRT"
    internal const ushort Version = 2;
    internal const int FramePrefixSize = 5;
    internal const int MaxHelloPayload = 512;
    internal const int MaxChainLength = 64;
    internal const int MaxNameLength = 512;
    internal const int MaxKeyLength = 4096;

    /// <summary>Finds the next whole frame; false when more bytes are needed.</summary>
    /// <exception cref="ProtocolViolationException">The length or kind is impossible; the connection must close.</exception>
    internal static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out FrameKind kind, out ReadOnlySequence<byte> payload)
    {
        kind = default;
        payload = default;
        if (buffer.Length < FramePrefixSize)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[FramePrefixSize];
        buffer.Slice(0, FramePrefixSize).CopyTo(prefix);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        if (length == 0)
        {
            throw new ProtocolViolationException("a frame with length 0 (no kind byte)");
        }

        if (length - 1 > (uint)maxFrameSize)
        {
            throw new ProtocolViolationException(maxFrameSize == MaxHelloPayload
                ? $"a handshake frame of {length - 1} bytes, over the handshake's limit of {MaxHelloPayload}"
                : $"a frame of {length - 1} bytes, over the limit of {maxFrameSize} (Sandgrain:MaxFrameSize)");
        }

        kind = (FrameKind)prefix[4];
        if (kind is < FrameKind.Hello or > FrameKind.Proof)
        {
            throw new ProtocolViolationException($"a frame of unknown kind {prefix[4]}");
        }

        if (buffer.Length < 4 + (long)length)
        {
            return false;
        }

        payload = buffer.Slice(FramePrefixSize, length - 1);
        buffer = buffer.Slice(4 + (long)length);
        return true;
    }

    /// <summary>Writes one frame: prefix, header bytes and body bytes (not flushed).</summary>
    internal static void WriteFrame(PipeWriter output, FrameKind kind, ReadOnlySpan<byte> header, ReadOnlySpan<byte> body)
    {
        var prefix = output.GetSpan(FramePrefixSize);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)(1 + header.Length + body.Length));
        prefix[4] = (byte)kind;
        output.Advance(FramePrefixSize);
        output.Write(header);
        if (!body.IsEmpty)
        {
            output.Write(body);
        }
    }

    internal static void EncodeRequest(Invocation.PooledBuffer header, RequestHeader request) =>
        EncodeRequest(header, request.CorrelationId, request.Flags, request.TimeoutMs, request.Interface, request.Key, request.MethodId, request.Chain, request.TraceParent);

    /// <summary>Writes a request header from its fields (a caller builds no header object).</summary>
    internal static void EncodeRequest(Invocation.PooledBuffer header, ulong correlation, RequestFlags flags, uint timeoutMs, string @interface, string key, uint methodId, string[] chain, string? traceParent)
    {
        var w = header.CreateWriter();
        w.WriteArrayHeader(8);
        w.Write(correlation);
        w.Write((byte)flags);
        w.Write(timeoutMs);
        w.Write(@interface);
        w.Write(key);
        w.Write(methodId);
        w.WriteArrayHeader(chain.Length);
        foreach (var link in chain)
        {
            w.Write(link);
        }

        if (traceParent is null)
        {
            w.WriteNil();
        }
        else
        {
            w.Write(traceParent);
        }

        w.Flush();
    }

    /// <summary>Decodes a request header; <paramref name="arguments"/> is what follows it.</summary>
    /// <exception cref="ProtocolViolationException">The header is damaged: framing is lost, the connection must close.</exception>
    internal static RequestHeader DecodeRequest(ReadOnlySequence<byte> payload, out ReadOnlySequence<byte> arguments, DecodedNames? names = null)
    {
        try
        {
            var r = new MessagePackReader(payload);
            Expect(r.ReadArrayHeader() == 8, "a request header that is not an 8-element array");
            var correlation = r.ReadUInt64();
            var flags = (RequestFlags)r.ReadByte();
            var timeout = r.ReadUInt32();
            var name = names is null ? ReadBounded(ref r, MaxNameLength, "interface name") : ReadBounded(ref r, MaxNameLength, "interface name", ref names.Interface);
            var key = names is null ? ReadBounded(ref r, MaxKeyLength, "key") : ReadBounded(ref r, MaxKeyLength, "key", ref names.Key);
            var method = r.ReadUInt32();
            var chainLength = r.ReadArrayHeader();
            if (chainLength > MaxChainLength)
            {
                throw new ProtocolViolationException($"a call chain of {chainLength} links (limit {MaxChainLength})");
            }

            var chain = chainLength == 0 ? [] : new string[chainLength];
            for (var i = 0; i < chainLength; i++)
            {
                chain[i] = ReadBounded(ref r, MaxNameLength + MaxKeyLength, "call chain link");
            }

            var trace = r.TryReadNil() ? null : ReadBounded(ref r, 128, "traceparent");
            arguments = payload.Slice(r.Consumed);
            return new RequestHeader(correlation, flags, timeout, name, key, method, chain, trace);
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new ProtocolViolationException($"a damaged request header: {e.Message}", e);
        }
    }

    internal static void EncodeError(Invocation.PooledBuffer header, ulong correlation, ErrorKind kind, string type, string message, string? stack)
    {
        var w = header.CreateWriter();
        w.WriteArrayHeader(5);
        w.Write(correlation);
        w.Write((byte)kind);
        w.Write(type);
        w.Write(message);
        if (stack is null)
        {
            w.WriteNil();
        }
        else
        {
            w.Write(stack);
        }

        w.Flush();
    }

    internal static (ulong Correlation, ErrorKind Kind, string Type, string Message, string? Stack) DecodeError(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            Expect(r.ReadArrayHeader() == 5, "an error that is not a 5-element array");
            var correlation = r.ReadUInt64();
            var kind = (ErrorKind)r.ReadByte();
            var type = r.ReadString() ?? "";
            var message = r.ReadString() ?? "";
            var stack = r.TryReadNil() ? null : r.ReadString();
            return (correlation, kind, type, message, stack);
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new ProtocolViolationException($"a damaged error frame: {e.Message}", e);
        }
    }

    /// <summary>Writes a single-id payload (response prefix, cancel, ping, pong).</summary>
    internal static void EncodeId(Invocation.PooledBuffer header, ulong id)
    {
        var w = header.CreateWriter();
        w.WriteArrayHeader(1);
        w.Write(id);
        w.Flush();
    }

    internal static ulong DecodeId(ReadOnlySequence<byte> payload, out ReadOnlySequence<byte> rest)
    {
        try
        {
            var r = new MessagePackReader(payload);
            Expect(r.ReadArrayHeader() == 1, "an id frame that is not a 1-element array");
            var id = r.ReadUInt64();
            rest = payload.Slice(r.Consumed);
            return id;
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new ProtocolViolationException($"a damaged id frame: {e.Message}", e);
        }
    }

    internal static void EncodeGoodbye(Invocation.PooledBuffer header, string reason)
    {
        var w = header.CreateWriter();
        w.WriteArrayHeader(1);
        w.Write(reason);
        w.Flush();
    }

    internal static string DecodeGoodbye(ReadOnlySequence<byte> payload)
    {
        try
        {
            var r = new MessagePackReader(payload);
            Expect(r.ReadArrayHeader() == 1, "a goodbye that is not [reason]");
            return ReadBounded(ref r, 1024, "goodbye reason");
        }
        catch (Exception e) when (IsDecodeFailure(e))
        {
            throw new ProtocolViolationException($"a damaged goodbye frame: {e.Message}", e);
        }
    }

    /// <summary>The exceptions MessagePackReader throws for damaged or truncated input.</summary>
    private static bool IsDecodeFailure(Exception e) =>
        e is MessagePackSerializationException or EndOfStreamException or InvalidOperationException or OverflowException or ArgumentOutOfRangeException;

    private static string ReadBounded(ref MessagePackReader reader, int limit, string what)
    {
        var value = reader.ReadString() ?? throw new ProtocolViolationException($"a nil {what}");

        // The message is built only for a violation: this runs for every string of every request.
        if (value.Length > limit)
        {
            throw new ProtocolViolationException($"a {what} of {value.Length} characters (limit {limit})");
        }

        return value;
    }

    /// <summary>
    /// <see cref="ReadBounded(ref MessagePackReader, int, string)"/>, returning the string decoded last time when the
    /// bytes are the same: a caller that calls one actor again and again costs no new strings.
    /// </summary>
    private static string ReadBounded(ref MessagePackReader reader, int limit, string what, ref DecodedNames.Name? last)
    {
        if (reader.TryReadNil())
        {
            throw new ProtocolViolationException($"a nil {what}");
        }

        if (!reader.TryReadStringSpan(out var utf8))
        {
            return ReadBounded(ref reader, limit, what);
        }

        var previous = last;
        if (previous is not null && utf8.SequenceEqual(previous.Utf8))
        {
            return previous.Value;
        }

        var value = Encoding.UTF8.GetString(utf8);
        if (value.Length > limit)
        {
            throw new ProtocolViolationException($"a {what} of {value.Length} characters (limit {limit})");
        }

        if (utf8.Length <= DecodedNames.MaxRemembered)
        {
            last = new DecodedNames.Name(utf8.ToArray(), value);
        }

        return value;
    }

    private static void Expect(bool condition, string violation)
    {
        if (!condition)
        {
            throw new ProtocolViolationException(violation);
        }
    }
}
