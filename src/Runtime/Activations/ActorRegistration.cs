using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>An actor type this silo hosts: the interface, how to make an instance, and whether it is reentrant.</summary>
internal sealed record ActorRegistration(Type InterfaceType, Type ImplementationType, Func<IServiceProvider, object> Create, bool Reentrant)
{
    internal ActorInterfaceInfo Info => ActorTypeRegistry.Require(InterfaceType);
}

/// <summary>The activation's context, resolvable as <see cref="IActorContext"/> inside its DI scope.</summary>
internal sealed class ActorContextHolder
{
    internal IActorContext? Context { get; set; }
}
