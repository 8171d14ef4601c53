using MessagePack;
using MessagePack.Formatters;

namespace Sandgrain.Runtime.Invocation;

/// <summary>
/// Encodes an actor or observer reference passed as an argument or returned as a result: on the wire it is the
/// key alone (the interface is the parameter's type), and the receiving process makes a proxy of its own that
/// routes through its runtime. Registered by generated code for every actor and observer interface.
/// </summary>
/// <typeparam name="T">The actor or observer interface.</typeparam>
internal sealed class ActorReferenceFormatter<T> : IMessagePackFormatter<T?>
    where T : class
{
    /// <summary>The longest key accepted from a peer, in characters.</summary>
    public const int MaxKeyLength = 4096;

    /// <inheritdoc />
    public void Serialize(ref MessagePackWriter writer, T? value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        if (value is not ActorProxy proxy)
        {
            var info = ActorTypeRegistry.Find(typeof(T));
            var how = info?.KeyKind == ActorKeyKind.Observer
                ? $"IActorFactory.CreateObjectReference<{typeof(T).Name}>(observer)"
                : $"IActorFactory.GetGrain<{typeof(T).Name}>(key)";
            throw new MessagePackSerializationException($"A {typeof(T).Name} is passed between processes as a reference, but this one is a {value.GetType().Name} object, not a reference. Pass the reference from {how} instead.");
        }

        writer.Write(proxy.Reference.Key);
    }

    /// <inheritdoc />
    public T? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return null;
        }

        var key = reader.ReadString() ?? throw new MessagePackSerializationException($"A {typeof(T).Name} reference without a key.");
        if (key.Length > MaxKeyLength)
        {
            throw new MessagePackSerializationException($"A {typeof(T).Name} reference whose key is {key.Length} characters long; at most {MaxKeyLength} are accepted.");
        }

        var info = ActorTypeRegistry.Require(typeof(T));
        if (info.KeyKind == ActorKeyKind.Observer && !ObserverKey.TryParse(key, out _, out _))
        {
            throw new MessagePackSerializationException($"'{key}' is not an observer reference (expected <silo id>/<object id>).");
        }

        var runtime = ReferenceContext.Current
            ?? throw new MessagePackSerializationException($"A {typeof(T).Name} reference can only be decoded inside a Sandgrain call (no runtime on this thread).");
        return (T)info.CreateProxy(new ActorReference(info, key, runtime));
    }
}

/// <summary>The runtime that references decoded on this thread belong to; set around argument and result decoding.</summary>
internal static class ReferenceContext
{
    [ThreadStatic]
    private static ICallInvoker? t_current;

    internal static ICallInvoker? Current => t_current;

    /// <summary>Makes <paramref name="runtime"/> current until the scope is disposed (on this thread).</summary>
    internal static Scope Enter(ICallInvoker? runtime)
    {
        var previous = t_current;
        t_current = runtime;
        return new Scope(previous);
    }

    internal readonly struct Scope(ICallInvoker? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }
}

/// <summary>An observer's key: the silo of the process that created it, and the object's id there.</summary>
internal static class ObserverKey
{
    internal static string Create(string siloId) => siloId + "/" + Guid.NewGuid().ToString("N");

    internal static bool TryParse(string key, out string siloId, out string objectId)
    {
        siloId = objectId = "";
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !Discovery.SiloRecord.IsValidSiloId(key[..slash]) || key.Length - slash - 1 != 32 || !Guid.TryParseExact(key.AsSpan(slash + 1), "N", out _))
        {
            return false;
        }

        siloId = key[..slash];
        objectId = key[(slash + 1)..];
        return true;
    }
}
