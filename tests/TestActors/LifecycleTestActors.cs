using System.Collections.Concurrent;

namespace Sandgrain.TestActors;

public sealed class HoldActor(IActorContext context) : IHoldActor
{
    private static readonly ConcurrentDictionary<string, Group> s_groups = new();

    public async Task<string> Hold(string group, int timeoutMilliseconds)
    {
        var g = s_groups.GetOrAdd(group, _ => new Group());
        g.Entered();
        await g.Released.Task.WaitAsync(TimeSpan.FromMilliseconds(timeoutMilliseconds)).ContinueWith(_ => { }, TaskScheduler.Default);
        return context.Key;
    }

    public Task WaitForHolders(string group, int count) => s_groups.GetOrAdd(group, _ => new Group()).WaitFor(count);

    public Task Release(string group)
    {
        s_groups.GetOrAdd(group, _ => new Group()).Released.TrySetResult();
        return Task.CompletedTask;
    }

    public Task<byte[]> Echo(byte[] payload) => Task.FromResult(payload);

    private sealed class Group
    {
        private readonly Lock _lock = new();
        private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
        private int _entered;

        internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal void Entered()
        {
            lock (_lock)
            {
                _entered++;
                foreach (var w in _waiters.Where(w => w.Count <= _entered).ToList())
                {
                    w.Done.TrySetResult();
                    _waiters.Remove(w);
                }
            }
        }

        internal Task WaitFor(int count)
        {
            lock (_lock)
            {
                if (_entered >= count)
                {
                    return Task.CompletedTask;
                }

                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((count, done));
                return done.Task;
            }
        }
    }
}

/// <summary>Counts live instances per process; its deactivation waits for <see cref="HoldDeactivation"/> when set.</summary>
public sealed class LifeCountingActor : ILifeCountingActor, IActorLifecycle
{
    private static int s_serial;
    private static int s_live;
    private static int s_maxLive;
    private readonly int _serial = Interlocked.Increment(ref s_serial);
    private volatile bool _deactivated;

    public static int MaxLive => Volatile.Read(ref s_maxLive);

    public static int Live => Volatile.Read(ref s_live);

    /// <summary>While set, deactivations signal <see cref="DeactivationStarted"/> and wait for this to complete.</summary>
    public static TaskCompletionSource? HoldDeactivation { get; set; }

    public static TaskCompletionSource DeactivationStarted { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static ConcurrentQueue<string> Violations { get; } = new();

    public Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var live = Interlocked.Increment(ref s_live);
        int max;
        do
        {
            max = Volatile.Read(ref s_maxLive);
        }
        while (live > max && Interlocked.CompareExchange(ref s_maxLive, live, max) != max);
        return Task.CompletedTask;
    }

    public async Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        DeactivationStarted.TrySetResult();
        if (HoldDeactivation is { } hold)
        {
            await hold.Task;
        }

        _deactivated = true;
        Interlocked.Decrement(ref s_live);
    }

    public Task<int> Touch()
    {
        if (_deactivated)
        {
            Violations.Enqueue($"instance {_serial} ran a call after its deactivation");
        }

        return Task.FromResult(_serial);
    }
}

public sealed class SlowActivationActor(IActorContext context) : ISlowActivationActor, IActorLifecycle
{
    private readonly List<int> _recorded = [];

    public Task OnActivateAsync(CancellationToken cancellationToken) =>
        Task.Delay(int.Parse(context.Key.Split('-')[^1], System.Globalization.CultureInfo.InvariantCulture), CancellationToken.None);

    public Task OnDeactivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<int> Record(int value)
    {
        _recorded.Add(value);
        return Task.FromResult(value);
    }

    public Task<int[]> Recorded() => Task.FromResult(_recorded.ToArray());
}

public sealed class FlakyActivationActor(IActorContext context) : IFlakyActivationActor, IActorLifecycle
{
    private static readonly ConcurrentDictionary<string, int> s_attempts = new();

    public Task OnActivateAsync(CancellationToken cancellationToken) =>
        s_attempts.AddOrUpdate(context.Key, 1, (_, n) => n + 1) == 1
            ? throw new InvalidOperationException($"first activation of {context.Key} fails")
            : Task.CompletedTask;

    public Task OnDeactivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<string> Hello() => Task.FromResult("hello after " + s_attempts[context.Key] + " activations");
}

public sealed class HangingActor : IHangingActor, IActorLifecycle
{
    public Task OnActivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Ignores its token and never completes.</summary>
    public Task OnDeactivateAsync(CancellationToken cancellationToken) => new TaskCompletionSource().Task;

    public Task<int> Ping() => Task.FromResult(Environment.ProcessId);
}
