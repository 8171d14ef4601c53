using System.Collections.Concurrent;
using Orleans.Concurrency;

namespace Sandgrain.TestActors;

public sealed class CounterActor(IActorContext context) : ICounterActor
{
    private int _value;

    public Task<int> Add(int amount) => Task.FromResult(_value += amount);

    public Task<int> Get() => Task.FromResult(_value);

    public Task AddOneWay(int amount)
    {
        _value += amount;
        return Task.CompletedTask;
    }

    public ValueTask<string> WhereAmI() => ValueTask.FromResult($"{context.ActorId}@{Environment.ProcessId}");

    public ValueTask Reset()
    {
        _value = 0;
        return ValueTask.CompletedTask;
    }

    public Task<DeviceInfo> Describe(DeviceInfo template) =>
        Task.FromResult(new DeviceInfo { Name = template.Name + "!", Opens = template.Opens + 1, Tags = [.. template.Tags, context.Key] });

    public Task Fail(string kind, string message) => kind switch
    {
        "invalid" => throw new InvalidOperationException(message),
        "argument" => throw new ArgumentException(message),
        _ => throw new CustomActorException(message),
    };

    public async Task<int> Sleep(int milliseconds)
    {
        await Task.Delay(milliseconds);
        return milliseconds;
    }

    public Task<int> BlockThread(int milliseconds)
    {
        Thread.Sleep(milliseconds);
        return Task.FromResult(milliseconds);
    }

    public async Task<string> WaitForCancellation(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return "not cancelled";
        }
        catch (OperationCanceledException)
        {
            CancelledCalls.Enqueue(context.Key);
            throw;
        }
    }

    public Task<int> CancelledCount() => Task.FromResult(CancelledCalls.Count);

    public Task<int> CallOther(string otherKey, int amount) => context.Factory.GetGrain<ICounterActor>(otherKey).Add(amount);

    /// <summary>Keys whose WaitForCancellation saw its token fire (in the hosting process).</summary>
    public static ConcurrentQueue<string> CancelledCalls { get; } = new();
}

public sealed class CustomActorException(string message) : Exception(message);

/// <summary>Counts how many calls are inside at once; the two actors below differ only in [Reentrant].</summary>
public abstract class TurnCountingActor
{
    private int _inside;
    private int _max;
    private int _readers;
    private int _maxReaders;
    private int _overlaps;

    public async Task<int> Step(int delayMilliseconds)
    {
        var at = ++_inside;
        _max = Math.Max(_max, _inside);
        _overlaps += _readers > 0 ? 1 : 0;
        await Task.Delay(delayMilliseconds);
        _overlaps += _readers > 0 ? 1 : 0;
        _inside--;
        return at;
    }

    public async Task<int> Read(int delayMilliseconds)
    {
        var at = ++_readers;
        _maxReaders = Math.Max(_maxReaders, _readers);
        _overlaps += _inside > 0 ? 1 : 0;
        await Task.Delay(delayMilliseconds);
        _overlaps += _inside > 0 ? 1 : 0;
        _readers--;
        return at;
    }

    public Task<int[]> ReadStats() => Task.FromResult(new[] { _maxReaders, _overlaps });

    public Task<int> Peek(int delayMilliseconds) => Step(delayMilliseconds);

    public Task<int> MaxConcurrency() => Task.FromResult(_max);
}

public sealed class TurnActor : TurnCountingActor, ITurnActor;

[Reentrant]
public sealed class ReentrantTurnActor : TurnCountingActor, IReentrantTurnActor;

public sealed class CycleActor(IActorContext context) : ICycleActor
{
    public Task<string> CallBack(IRelayObserver observer) => observer.Relay(context.Key);

    public Task<string> Ping() => Task.FromResult("pong from " + context.Key);

    public Task<string> Bounce(string next, int depth) =>
        depth == 0
            ? Task.FromResult(context.Key)
            : context.Factory.GetGrain<ICycleActor>(next).Bounce(context.Key, depth - 1);
}

public sealed class LifecycleActor(IActorContext context) : ILifecycleActor, IActorLifecycle
{
    private int _ticks;

    public static ConcurrentQueue<string> Log { get; } = new();

    public Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Log.Enqueue("activate " + context.GuidKey);
        return Task.CompletedTask;
    }

    public Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        Log.Enqueue("deactivate " + context.GuidKey);
        return Task.CompletedTask;
    }

    public Task<string> Hello() => Task.FromResult("hello from " + context.GuidKey);

    public Task<int> Ticks() => Task.FromResult(_ticks);

    private bool _inRequest;
    private int _overlaps;

    public Task StartTimer(int periodMilliseconds)
    {
        context.RegisterTimer(_ =>
        {
            _ticks++;
            _overlaps += _inRequest ? 1 : 0;
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(periodMilliseconds), TimeSpan.FromMilliseconds(periodMilliseconds));
        return Task.CompletedTask;
    }

    public async Task Busy(int milliseconds)
    {
        _inRequest = true;
        await Task.Delay(milliseconds);
        _inRequest = false;
    }

    public Task<int> TimerOverlaps() => Task.FromResult(_overlaps);

    public Task<string[]> Events() => Task.FromResult(Log.ToArray());
}

public sealed class NumberActor(IActorContext context) : INumberActor
{
    public Task<long> Square() => Task.FromResult(context.IntegerKey * context.IntegerKey);
}

public sealed class PublisherActor : IPublisherActor
{
    private readonly List<ITickObserver> _subscribers = [];

    public Task Subscribe(ITickObserver observer)
    {
        _subscribers.Add(observer);
        return Task.CompletedTask;
    }

    public async Task<string[]> Publish(int number)
    {
        var answers = new List<string>();
        foreach (var subscriber in _subscribers)
        {
            try
            {
                answers.Add(await subscriber.OnTick(number));
            }
            catch (Exception e)
            {
                answers.Add(e.GetType().Name + ": " + e.Message);
            }
        }

        return [.. answers];
    }

    public async Task NotifyAll(string message)
    {
        foreach (var subscriber in _subscribers)
        {
            await subscriber.Notify(message);
        }
    }

    public Task<ITickObserver?> Echo(ITickObserver? observer) => Task.FromResult(observer);

    public Task<int> AddThrough(ICounterActor counter, int amount) => counter.Add(amount);
}

public static class TestActorRegistration
{
    public static ISandgrainBuilder AddTestActors(this ISandgrainBuilder builder) => builder
        .AddActor<ICounterActor, CounterActor>()
        .AddActor<ITurnActor, TurnActor>()
        .AddActor<IReentrantTurnActor, ReentrantTurnActor>()
        .AddActor<ICycleActor, CycleActor>()
        .AddActor<ILifecycleActor, LifecycleActor>()
        .AddActor<INumberActor, NumberActor>()
        .AddActor<IPublisherActor, PublisherActor>()
        .AddActor<IHoldActor, HoldActor>()
        .AddActor<ILifeCountingActor, LifeCountingActor>()
        .AddActor<ISlowActivationActor, SlowActivationActor>()
        .AddActor<IFlakyActivationActor, FlakyActivationActor>()
        .AddActor<IHangingActor, HangingActor>();
}
