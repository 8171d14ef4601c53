using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// A call sent on a connection, waiting for its response: the one object a remote call allocates, and reused.
/// The caller awaits it as a <see cref="ValueTask{TResult}"/>. A response continues the caller on the thread
/// that read it (no hop; the connection's stall watch keeps a caller that blocks from stopping the connection);
/// a deadline, a cancellation or a close continue it on the thread pool, since those run on timer and closing threads.
/// </summary>
internal sealed class PendingCall : IValueTaskSource<PooledBuffer?>
{
    private const int MaxPooled = 1024;
    private static readonly ConcurrentQueue<PendingCall> s_pool = new();
    private static int s_pooled;

    private ManualResetValueTaskSourceCore<PooledBuffer?> _core;
    private CancellationTokenRegistration _cancellation;
    private bool _reusable;

    internal ulong Correlation { get; private set; }

    internal ActorReference Target { get; private set; } = null!;

    internal ActorMethodInfo Method { get; private set; } = null!;

    internal string[] Chain { get; private set; } = [];

    /// <summary>When the call's deadline passes, in the connection's clock's timestamps.</summary>
    internal long Deadline { get; private set; }

    internal TimeSpan Timeout { get; private set; }

    internal SiloConnection Owner { get; private set; } = null!;

    internal IReadOnlyList<string> Cycle => [.. Chain, Target.ActorId];

    internal static PendingCall Rent(ulong correlation, ActorReference target, ActorMethodInfo method, string[] chain, long deadline, TimeSpan timeout, SiloConnection owner)
    {
        if (s_pool.TryDequeue(out var pending))
        {
            Interlocked.Decrement(ref s_pooled);
        }
        else
        {
            pending = new PendingCall();
        }

        pending.Correlation = correlation;
        pending.Target = target;
        pending.Method = method;
        pending.Chain = chain;
        pending.Deadline = deadline;
        pending.Timeout = timeout;
        pending.Owner = owner;
        pending._reusable = true;
        return pending;
    }

    internal ValueTask<PooledBuffer?> AsValueTask() => new(this, _core.Version);

    /// <summary>Cancels the call when <paramref name="token"/> is cancelled (registered before the request is sent).</summary>
    internal void WatchCancellation(CancellationToken token) =>
        _cancellation = token.UnsafeRegister(static (s, token) =>
        {
            var pending = (PendingCall)s!;
            pending.Owner?.CancelPending(pending, token);
        }, this);

    /// <summary>A call that was never sent and that nobody will await: its cancellation callback goes.</summary>
    internal void Abandon()
    {
        ReleaseCancellation();
        _reusable = false;
    }

    internal string Describe() => $"{Target.Info.Name}.{Method.Name} on '{Target.Key}'";

    internal ActorUnavailableException Unavailable(Exception reason, string peerName) =>
        new($"{Describe()} failed: {peerName} is unavailable. {reason.Message}", reason);

    /// <summary>Completes with the response, continuing the caller on this thread.</summary>
    internal void SetResult(PooledBuffer result)
    {
        ReleaseCancellation();
        _core.RunContinuationsAsynchronously = false;
        _core.SetResult(result);
    }

    internal void SetException(Exception error, bool inline)
    {
        ReleaseCancellation();
        _core.RunContinuationsAsynchronously = !inline;
        _core.SetException(error);
    }

    public PooledBuffer? GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Return();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private void ReleaseCancellation()
    {
        // A cancellation callback that has started (or finished) may still hold this object: it must not be reused then.
        if (_cancellation != default && !_cancellation.Unregister())
        {
            _reusable = false;
        }

        _cancellation = default;
    }

    private void Return()
    {
        // A registration made after the call completed (the sweep can fail a call before its caller gets here) goes
        // now; one whose callback has started keeps this object out of the pool for good.
        ReleaseCancellation();
        var reusable = _reusable;
        _core.Reset();
        if (!reusable)
        {
            // A callback that is still running may read Owner: leave everything as it is, for the collector.
            return;
        }

        Target = null!;
        Method = null!;
        Chain = [];
        Owner = null!;
        if (Interlocked.Increment(ref s_pooled) <= MaxPooled)
        {
            s_pool.Enqueue(this);
        }
        else
        {
            Interlocked.Decrement(ref s_pooled);
        }
    }
}
