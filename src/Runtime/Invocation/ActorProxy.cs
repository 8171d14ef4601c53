using System.ComponentModel;

namespace Sandgrain.Runtime.Invocation;

/// <summary>Makes calls for references: the silo's call router. Proxies and decoded references hold one.</summary>
internal interface ICallInvoker
{
    /// <summary>
    /// Routes one call; returns its encoded result (null for one-way calls). The call
    /// owns <paramref name="arguments"/> from here on.
    /// </summary>
    ValueTask<PooledBuffer?> CallAsync(ActorReference target, uint methodId, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken);
}

/// <summary>An actor's identity as a caller holds it: the interface, the key and the runtime that routes calls.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ActorReference
{
    internal ActorReference(ActorInterfaceInfo info, string key, ICallInvoker runtime)
    {
        Info = info;
        Key = key;
        Runtime = runtime;
    }

    /// <summary>The actor's id: <c>&lt;interface&gt;/&lt;key&gt;</c>.</summary>
    public string ActorId => Info.Name + "/" + Key;

    internal ActorInterfaceInfo Info { get; }

    internal string Key { get; }

    internal ICallInvoker Runtime { get; }

    /// <inheritdoc />
    public override string ToString() => ActorId;
}

/// <summary>The base of generated proxies: encodes nothing itself, routes every call through the runtime.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class ActorProxy
{
    /// <summary>Creates the proxy.</summary>
    protected ActorProxy(ActorReference reference)
    {
        Reference = reference;
    }

    /// <summary>The actor this proxy calls.</summary>
    public ActorReference Reference { get; }

    /// <summary>Starts encoding a call's arguments.</summary>
    protected static PooledBuffer BeginCall() => PooledBuffer.Rent();

    /// <summary>Makes a call whose method returns no value.</summary>
    protected async Task InvokeAsync(uint methodId, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var result = await Reference.Runtime.CallAsync(Reference, methodId, arguments, flags, cancellationToken).ConfigureAwait(false);
        result?.Recycle();
    }

    /// <summary>Makes a call and decodes its result.</summary>
    protected async Task<T> InvokeAsync<T>(uint methodId, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var result = await Reference.Runtime.CallAsync(Reference, methodId, arguments, flags, cancellationToken).ConfigureAwait(false);
        try
        {
            using (ReferenceContext.Enter(Reference.Runtime))
            {
                return Serializer.ReadResult<T>(result!.WrittenMemory);
            }
        }
        catch (MessagePack.MessagePackSerializationException e)
        {
            var method = Reference.Info.Method(methodId)?.Name ?? $"0x{methodId:x8}";
            throw new ActorCallException($"The result of {Reference.Info.Name}.{method} on '{Reference.Key}' could not be decoded as {typeof(T).Name}: {e.Message}", e);
        }
        finally
        {
            // Decoded into values of their own (or failed): the call's last user of its result.
            result?.Recycle();
        }
    }

    /// <inheritdoc />
    public override string ToString() => Reference.ActorId;
}
