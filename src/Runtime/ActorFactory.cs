using Orleans;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime;

/// <summary>Hands out references to actors by name and makes observer objects of this process callable.</summary>
internal sealed class ActorFactory(ICallInvoker router, ObserverTable observers, SiloIdentity identity) : IActorFactory
{
    public TActor GetGrain<TActor>(string key) where TActor : IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(key);
        return Reference<TActor>(key, ActorKeyKind.String);
    }

    public TActor GetGrain<TActor>(Guid key) where TActor : IGrainWithGuidKey =>
        Reference<TActor>(key.ToString("N"), ActorKeyKind.Guid);

    public TActor GetGrain<TActor>(long key) where TActor : IGrainWithIntegerKey =>
        Reference<TActor>(key.ToString(System.Globalization.CultureInfo.InvariantCulture), ActorKeyKind.Integer);

    public TObserver CreateObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver
    {
        ArgumentNullException.ThrowIfNull(observer);
        var info = RequireObserver(typeof(TObserver));
        if (observer is ActorProxy existing)
        {
            return (TObserver)(object)existing;
        }

        if (observer is not TObserver)
        {
            throw new ArgumentException($"The object is a {observer.GetType().Name}, which does not implement {info.Name}.", nameof(observer));
        }

        return (TObserver)info.CreateProxy(new ActorReference(info, observers.Add(info, observer, identity.SiloId), router));
    }

    public void DeleteObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver
    {
        ArgumentNullException.ThrowIfNull(observer);
        observers.Remove(RequireObserver(typeof(TObserver)), observer);
    }

    private static ActorInterfaceInfo RequireObserver(Type type)
    {
        var info = ActorTypeRegistry.Require(type);
        return info.KeyKind == ActorKeyKind.Observer
            ? info
            : throw new ArgumentException($"{info.Name} is an actor interface; object references are made for observer interfaces (derived from IGrainObserver).");
    }

    private TActor Reference<TActor>(string key, ActorKeyKind kind)
    {
        var info = ActorTypeRegistry.Require(typeof(TActor));
        if (info.KeyKind != kind)
        {
            throw new ArgumentException($"{info.Name} is addressed by a {info.KeyKind} key, not a {kind} key.");
        }

        return (TActor)info.CreateProxy(new ActorReference(info, key, router));
    }
}
