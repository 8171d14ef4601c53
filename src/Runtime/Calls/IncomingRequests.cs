using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Calls;

/// <summary>The requests other silos send: to an activation of this silo, or to an observer object of this process.</summary>
internal sealed class IncomingRequests(ActivationDirectory directory, ObserverTable observers) : IIncomingRequestHandler
{
    public ValueTask<PooledBuffer> InvokeAsync(RequestHeader header, PooledBuffer arguments, CancellationToken cancellationToken)
    {
        var info = ActorTypeRegistry.Find(header.Interface);
        if (info is null || (info.KeyKind != ActorKeyKind.Observer && !directory.Hosts(header.Interface)))
        {
            arguments.Dispose();
            throw new ActorNotHostedException($"This silo does not host {header.Interface}.");
        }

        if (info.Method(header.MethodId) is not { } method)
        {
            arguments.Dispose();
            throw Serializer.UnknownMethod(info.Name, header.MethodId);
        }

        return info.KeyKind == ActorKeyKind.Observer
            ? new ValueTask<PooledBuffer>(observers.InvokeAsync(info, header.Key, method, arguments, header.Chain, cancellationToken))
            : directory.InvokeAsync(info, header.Key, method, arguments, header.Chain, cancellationToken);
    }
}
