using System.Collections.Concurrent;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The calls a connection has sent and waits for, by correlation id, each with its deadline. Whoever removes a
/// call from the table completes it — its response, its error, its deadline (the connection's sweep), its caller's
/// cancellation or the connection's close — so each completes exactly once.
/// </summary>
internal sealed class OutgoingCalls(Func<string> peerName, TimeProvider time)
{
    private readonly ConcurrentDictionary<ulong, PendingCall> _pending = new();
    private long _next;

    internal ulong NextCorrelation() => (ulong)Interlocked.Increment(ref _next);

    /// <summary>True while some call waits (for the connection's sweep).</summary>
    internal bool Any => !_pending.IsEmpty;

    /// <summary>
    /// Registers a call. Its cancellation is watched before it enters the table, so that nothing that finds it there
    /// (the sweep, a close) can complete it while its registration is still being made.
    /// </summary>
    internal PendingCall Add(ulong correlation, ActorReference target, ActorMethodInfo method, string[] chain, TimeSpan timeout, SiloConnection owner, CancellationToken cancellationToken)
    {
        var pending = PendingCall.Rent(correlation, target, method, chain, time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency), timeout, owner);
        if (cancellationToken.CanBeCanceled)
        {
            pending.WatchCancellation(cancellationToken);
        }

        _pending[correlation] = pending;
        return pending;
    }

    /// <summary>Takes the call out of the table; false when something else completed it first.</summary>
    internal bool TryTake(PendingCall pending) => _pending.TryRemove(new KeyValuePair<ulong, PendingCall>(pending.Correlation, pending));

    /// <summary>A response arrived: the caller goes on on this thread. False when nobody waits for it any more.</summary>
    internal bool Complete(ulong correlation, PooledBuffer result)
    {
        if (_pending.TryRemove(correlation, out var pending))
        {
            pending.SetResult(result);
            return true;
        }

        result.Dispose();
        return false;
    }

    internal void Fail(ulong correlation, Func<PendingCall, Exception> error)
    {
        if (_pending.TryRemove(correlation, out var pending))
        {
            pending.SetException(error(pending), inline: true);
        }
    }

    /// <summary>Fails the calls whose deadline has passed; returns them so the peer can be told to stop.</summary>
    internal void ExpireDue(Action<PendingCall> expired)
    {
        var now = time.GetTimestamp();
        foreach (var (correlation, pending) in _pending)
        {
            // By the key enumerated: an object completed and reused meanwhile is in the table under another key.
            if (pending.Deadline <= now && _pending.TryRemove(new KeyValuePair<ulong, PendingCall>(correlation, pending)))
            {
                expired(pending);
            }
        }
    }

    /// <summary>The connection closed: every call waiting fails at once, naming the peer, the actor and the method.</summary>
    internal void FailAll(Exception reason)
    {
        foreach (var correlation in _pending.Keys)
        {
            if (_pending.TryRemove(correlation, out var pending))
            {
                pending.SetException(pending.Unavailable(reason, peerName()), inline: false);
            }
        }
    }
}
