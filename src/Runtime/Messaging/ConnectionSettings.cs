using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// Runs the requests a connection receives: an activation of this silo or an observer object of this process.
/// Given to every connection, so that a connection depends on this contract and not on the silo.
/// </summary>
internal interface IIncomingRequestHandler
{
    /// <summary>
    /// Runs one request and returns its encoded result. <paramref name="arguments"/> belongs to the invocation from
    /// here on: it is disposed when the invocation has finished with it, whatever the caller does meanwhile.
    /// </summary>
    ValueTask<PooledBuffer> InvokeAsync(RequestHeader header, PooledBuffer arguments, CancellationToken cancellationToken);
}

/// <summary>What a connection needs to know of the silo it belongs to: identity, secret, limits, handler.</summary>
internal sealed record ConnectionSettings(
    string LocalSiloId,
    Security.GroupSecret Secret,
    int MaxFrameSize,
    int MaxInFlightRequests,
    long MaxQueuedBytes,
    TimeSpan SendStallTimeout,
    TimeSpan HandshakeTimeout,
    TimeSpan ReceiveStallThreshold,
    IIncomingRequestHandler Handler,
    TimeProvider Time,
    ILogger Logger)
{
    /// <summary>How often a connection answers pings at most; more are ignored (a peer cannot make us write for free).</summary>
    internal static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(1);

    internal static ConnectionSettings From(SandgrainOptions options, string localSiloId, Security.GroupSecret secret, IIncomingRequestHandler handler, TimeProvider time, ILogger logger) =>
        new(localSiloId, secret, options.MaxFrameSize, options.MaxInFlightRequestsPerConnection, options.MaxQueuedBytesPerConnection, options.SendStallTimeout, options.HandshakeTimeout, options.ReceiveStallThreshold, handler, time, logger);
}
