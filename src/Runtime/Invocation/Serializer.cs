using System.Buffers;
using System.ComponentModel;
using MessagePack;
using MessagePack.Resolvers;

namespace Sandgrain.Runtime.Invocation;

/// <summary>
/// Argument and result encoding, used by generated code: MessagePack with the untrusted-data security mode and
/// a bounded object-graph depth, because the other process is the untrusted party (style.md item 9). The
/// Typeless resolver is never used.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Serializer
{
    /// <summary>The deepest object graph accepted from a peer.</summary>
    public const int MaxObjectGraphDepth = 64;

    /// <summary>The options every call uses.</summary>
    public static MessagePackSerializerOptions Options { get; } = MessagePackSerializerOptions.Standard
        .WithResolver(CompositeResolver.Create(GeneratedFormatters.Instance, StandardResolver.Instance))
        .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(MaxObjectGraphDepth));

    /// <summary>Writes one argument.</summary>
    public static void Write<T>(ref MessagePackWriter writer, T value) =>
        Options.Resolver.GetFormatterWithVerify<T>().Serialize(ref writer, value, Options);

    /// <summary>Reads one argument.</summary>
    /// <exception cref="MessagePackSerializationException">The bytes are not a <typeparamref name="T"/>, whatever way they are damaged.</exception>
    public static T Read<T>(ref MessagePackReader reader)
    {
        try
        {
            return Options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, Options);
        }
        catch (Exception e) when (IsReaderFailure(e))
        {
            // Formatters called directly (not through MessagePackSerializer) let the reader's own exceptions out;
            // they are the peer's bad bytes, not the actor's failure, and are reported as such.
            throw new MessagePackSerializationException($"Failed to decode a {typeof(T).Name}: {e.Message}", e);
        }
    }

    /// <summary>Reads the argument array header and checks its length.</summary>
    /// <exception cref="MessagePackSerializationException">The request carries another number of arguments.</exception>
    public static void ReadArgumentCount(ref MessagePackReader reader, int expected, string method)
    {
        int count;
        try
        {
            count = reader.ReadArrayHeader();
        }
        catch (Exception e) when (IsReaderFailure(e))
        {
            throw new MessagePackSerializationException($"The arguments of {method} are not an array: {e.Message}", e);
        }

        if (count != expected)
        {
            throw new MessagePackSerializationException($"The request for {method} carries {count} arguments; the method takes {expected}. Caller and host were built from different versions of the interface.");
        }
    }

    /// <summary>Writes a result.</summary>
    public static void WriteResult<T>(IBufferWriter<byte> output, T value)
    {
        var writer = new MessagePackWriter(output);
        Write(ref writer, value);
        writer.Flush();
    }

    /// <summary>Reads a result.</summary>
    public static T ReadResult<T>(ReadOnlyMemory<byte> bytes)
    {
        var reader = new MessagePackReader(bytes);
        return Read<T>(ref reader);
    }

    private static bool IsReaderFailure(Exception e) =>
        e is EndOfStreamException or ArgumentOutOfRangeException or OverflowException or InvalidOperationException or FormatException;

    /// <summary>The error for a method id the host does not know.</summary>
    public static Exception UnknownMethod(string actorInterface, uint methodId) =>
        new UnknownActorMethodException($"{actorInterface} has no method with id 0x{methodId:x8} in this process; caller and host were built from different versions of the interface.");
}

/// <summary>The host has no method with the requested id.</summary>
public sealed class UnknownActorMethodException(string message) : ActorCallException(message);
