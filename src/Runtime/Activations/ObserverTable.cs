using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// The objects of this process that other processes may call back (Orleans' <c>IGrainObserver</c> shape): made
/// callable by <see cref="IActorFactory.CreateObjectReference{TObserver}"/>, held until
/// <see cref="IActorFactory.DeleteObjectReference{TObserver}"/>. Observer calls are not turns: they run as they
/// arrive, concurrently, so an observer object must be thread-safe.
/// </summary>
internal sealed class ObserverTable(Func<ICallInvoker> invoker)
{
    private readonly ConcurrentDictionary<string, Entry> _objects = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<object, ConcurrentDictionary<Type, string>> _keys = [];

    internal int Count => _objects.Count;

    /// <summary>Registers an object (once per object and interface) and returns its key.</summary>
    internal string Add(ActorInterfaceInfo info, object target, string siloId)
    {
        var keys = _keys.GetOrCreateValue(target);
        return keys.GetOrAdd(info.InterfaceType, _ =>
        {
            var key = ObserverKey.Create(siloId);
            _objects[key] = new Entry(info, target);
            return key;
        });
    }

    /// <summary>Forgets an object; later calls to it fail at once. Returns false when it was not registered.</summary>
    internal bool Remove(ActorInterfaceInfo info, object target)
    {
        var key = target is ActorProxy proxy ? proxy.Reference.Key : null;
        if (key is null && !(_keys.TryGetValue(target, out var byType) && byType.TryGetValue(info.InterfaceType, out key)))
        {
            return false;
        }

        // Both directions go, so that creating a reference for the object again makes a live one.
        if (!_objects.TryRemove(key, out var entry))
        {
            return false;
        }

        if (_keys.TryGetValue(entry.Target, out var keys))
        {
            keys.TryRemove(entry.Info.InterfaceType, out _);
        }

        return true;
    }

    /// <summary>
    /// Runs a call on a registered object and returns its encoded result. The call owns <paramref name="arguments"/>.
    /// The call chain it came with flows on: an observer is no activation and adds no link, but the calls it makes
    /// carry the chain, so a cycle through an observer fails fast like any other.
    /// </summary>
    internal async Task<PooledBuffer> InvokeAsync(ActorInterfaceInfo info, string key, ActorMethodInfo method, PooledBuffer arguments, string[] chain, CancellationToken cancellationToken)
    {
        using (arguments)
        {
            if (!_objects.TryGetValue(key, out var entry) || entry.Info != info)
            {
                throw new ActorUnavailableException($"{info.Name}.{method.Name}: observer '{key}' no longer exists in its process (DeleteObjectReference was called, or it was never created there).");
            }

            var result = PooledBuffer.Rent();
            try
            {
                ValueTask call;
                var previous = CallContext.Current;
                using (ReferenceContext.Enter(invoker()))
                {
                    CallContext.Current = chain.Length == 0 ? null : new CallContext(null, chain, Blocking: false);
                    try
                    {
                        call = info.Dispatcher.InvokeAsync(entry.Target, method.Id, arguments.WrittenMemory, result, cancellationToken);
                    }
                    finally
                    {
                        CallContext.Current = previous;
                    }
                }

                await call.ConfigureAwait(false);
                return result;
            }
            catch
            {
                result.Dispose();
                throw;
            }
        }
    }

    private sealed record Entry(ActorInterfaceInfo Info, object Target);
}
