using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The calls a connection has sent and waits for, by correlation id, each with its deadline. Whoever removes a
/// call from the table completes it — its response, its error, its deadline (the connection's sweep), its caller's
/// cancellation or the connection's close — so each completes exactly once.
/// </summary>
internal sealed class OutgoingCalls(Func<string> peerName, TimeProvider time)
{
    // A plain table under a lock rather than a concurrent one: every call adds and removes once, and a
    // ConcurrentDictionary would allocate a node for each (its writes take a lock as well). The count is kept with an
    // interlocked write, the full fence the connection's watch needs before it is armed (see ConnectionWatch.Arm).
    private readonly Dictionary<ulong, PendingCall> _pending = [];
    private readonly Lock _lock = new();
    private int _count;
    private long _next;

    internal ulong NextCorrelation() => (ulong)Interlocked.Increment(ref _next);

    /// <summary>True while some call waits (for the connection's sweep).</summary>
    internal bool Any => Volatile.Read(ref _count) > 0;

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

        lock (_lock)
        {
            _pending[correlation] = pending;
            Interlocked.Increment(ref _count);
        }

        return pending;
    }

    /// <summary>Takes the call out of the table; false when something else completed it first.</summary>
    internal bool TryTake(PendingCall pending) => Remove(pending.Correlation, pending) is not null;

    /// <summary>A response arrived: the caller goes on on this thread. False when nobody waits for it any more.</summary>
    internal bool Complete(ulong correlation, PooledBuffer result)
    {
        if (Remove(correlation, expected: null) is { } pending)
        {
            pending.SetResult(result);
            return true;
        }

        result.Dispose();
        return false;
    }

    internal void Fail(ulong correlation, Func<PendingCall, Exception> error)
    {
        if (Remove(correlation, expected: null) is { } pending)
        {
            pending.SetException(error(pending), inline: true);
        }
    }

    /// <summary>Fails the calls whose deadline has passed; returns them so the peer can be told to stop.</summary>
    internal void ExpireDue(Action<PendingCall> expired)
    {
        var now = time.GetTimestamp();
        List<PendingCall>? due = null;
        lock (_lock)
        {
            foreach (var pending in _pending.Values)
            {
                if (pending.Deadline <= now)
                {
                    (due ??= []).Add(pending);
                }
            }

            foreach (var pending in due ?? Enumerable.Empty<PendingCall>())
            {
                _pending.Remove(pending.Correlation);
                Interlocked.Decrement(ref _count);
            }
        }

        // Outside the lock: what the caller does with them (fail them, send cancels) takes other locks.
        if (due is not null)
        {
            ForEach(due, expired, rethrow: true);
        }
    }

    /// <summary>The connection closed: every call waiting fails at once, naming the peer, the actor and the method.</summary>
    internal void FailAll(Exception reason)
    {
        PendingCall[] all;
        lock (_lock)
        {
            all = [.. _pending.Values];
            _pending.Clear();
            Interlocked.Exchange(ref _count, 0);
        }

        // Nothing rethrown here: the close that calls this must go on to end the connection whatever happens.
        ForEach(all, pending => pending.SetException(pending.Unavailable(reason, peerName()), inline: false), rethrow: false);
    }

    /// <summary>
    /// Completes calls already taken out of the table: each one, even when completing another throws (nothing could
    /// find the rest again), and then, when <paramref name="rethrow"/>, the first failure is rethrown (the watch logs it).
    /// </summary>
    private static void ForEach(IEnumerable<PendingCall> calls, Action<PendingCall> complete, bool rethrow)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? first = null;
        foreach (var pending in calls)
        {
            try
            {
                complete(pending);
            }
            catch (Exception e)
            {
                first ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        }

        if (rethrow)
        {
            first?.Throw();
        }
    }

    /// <summary>Removes the call under <paramref name="correlation"/> (only if it is <paramref name="expected"/>, when given).</summary>
    private PendingCall? Remove(ulong correlation, PendingCall? expected)
    {
        lock (_lock)
        {
            if (!_pending.TryGetValue(correlation, out var pending) || (expected is not null && !ReferenceEquals(pending, expected)))
            {
                return null;
            }

            _pending.Remove(correlation);
            Interlocked.Decrement(ref _count);
            return pending;
        }
    }
}
