using System.Collections.Concurrent;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>The calls a connection has sent and waits for, by correlation id.</summary>
internal sealed class OutgoingCalls(Func<string> peerName)
{
    private readonly ConcurrentDictionary<ulong, PendingCall> _pending = new();
    private long _next;

    internal ulong NextCorrelation() => (ulong)Interlocked.Increment(ref _next);

    internal PendingCall Add(ulong correlation, ActorReference target, ActorMethodInfo method, string[] chain)
    {
        var pending = new PendingCall(target, method, chain, peerName);
        _pending[correlation] = pending;
        return pending;
    }

    internal void Remove(ulong correlation) => _pending.TryRemove(correlation, out _);

    /// <summary>A response arrived; false when nobody waits for it any more (timed out, cancelled).</summary>
    internal bool Complete(ulong correlation, PooledBuffer result)
    {
        if (_pending.TryRemove(correlation, out var pending) && pending.TrySetResult(result))
        {
            return true;
        }

        result.Dispose();
        return false;
    }

    internal void Fail(ulong correlation, Func<PendingCall, Exception> error)
    {
        if (_pending.TryRemove(correlation, out var pending))
        {
            pending.TrySetException(error(pending));
        }
    }

    /// <summary>The connection closed: every call waiting fails at once, naming the peer, the actor and the method.</summary>
    internal void FailAll(Exception reason)
    {
        foreach (var correlation in _pending.Keys)
        {
            if (_pending.TryRemove(correlation, out var pending))
            {
                pending.TrySetException(pending.Unavailable(reason));
            }
        }
    }
}

/// <summary>A call sent on a connection, waiting for its response.</summary>
internal sealed class PendingCall(ActorReference target, ActorMethodInfo method, string[] chain, Func<string> peerName)
    : TaskCompletionSource<PooledBuffer?>(TaskCreationOptions.RunContinuationsAsynchronously)
{
    internal IReadOnlyList<string> Cycle => [.. chain, target.ActorId];

    internal string[] Chain => chain;

    internal string Describe() => $"{target.Info.Name}.{method.Name} on '{target.Key}'";

    internal ActorUnavailableException Unavailable(Exception reason) =>
        new($"{Describe()} failed: {peerName()} is unavailable. {reason.Message}", reason);
}
