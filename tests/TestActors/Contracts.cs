using MessagePack;
using Orleans;
using Orleans.Concurrency;

namespace Sandgrain.TestActors;

[MessagePackObject]
public sealed class DeviceInfo
{
    [Key(0)]
    public string Name { get; set; } = "";

    [Key(1)]
    public int Opens { get; set; }

    [Key(2)]
    public List<string> Tags { get; set; } = [];
}

public interface ICounterActor : IGrainWithStringKey
{
    Task<int> Add(int amount);

    Task<int> Get();

    [OneWay]
    Task AddOneWay(int amount);

    ValueTask<string> WhereAmI();

    ValueTask Reset();

    Task<DeviceInfo> Describe(DeviceInfo template);

    Task Fail(string kind, string message);

    Task<int> Sleep(int milliseconds);

    /// <summary>Blocks the thread it runs on (no await) for a while: what an actor must not do, and may.</summary>
    Task<int> BlockThread(int milliseconds);

    Task<string> WaitForCancellation(CancellationToken cancellationToken);

    Task<int> CallOther(string otherKey, int amount);

    Task<int> CancelledCount();
}

public interface ITurnActor : IGrainWithStringKey
{
    /// <summary>Records entry, awaits, records exit; returns the number of calls inside at entry.</summary>
    Task<int> Step(int delayMilliseconds);

    [AlwaysInterleave]
    Task<int> Peek(int delayMilliseconds);

    Task<int> MaxConcurrency();

    /// <summary>A read-only request: may overlap other reads, never a Step.</summary>
    [ReadOnly]
    Task<int> Read(int delayMilliseconds);

    /// <summary>The most reads seen inside at once, and how often a read and a Step were inside together.</summary>
    [ReadOnly]
    Task<int[]> ReadStats();
}

public interface IReentrantTurnActor : IGrainWithStringKey
{
    Task<int> Step(int delayMilliseconds);

    Task<int> MaxConcurrency();
}

public interface ICycleActor : IGrainWithStringKey
{
    /// <summary>Calls <paramref name="next"/>'s Bounce, which calls back into the first key: a cycle.</summary>
    Task<string> Bounce(string next, int depth);

    /// <summary>Calls the observer, which calls this actor's Ping: a cycle through an observer.</summary>
    Task<string> CallBack(IRelayObserver observer);

    Task<string> Ping();
}

public interface ILifecycleActor : IGrainWithGuidKey
{
    Task<string> Hello();

    Task<int> Ticks();

    Task StartTimer(int periodMilliseconds);

    Task<string[]> Events();

    /// <summary>A request that stays inside (across an await) for a while.</summary>
    Task Busy(int milliseconds);

    /// <summary>How many timer ticks ran while a request was inside.</summary>
    Task<int> TimerOverlaps();
}

public interface INumberActor : IGrainWithIntegerKey
{
    Task<long> Square();
}

/// <summary>An object in a caller's process that actors call back.</summary>
public interface ITickObserver : IGrainObserver
{
    Task<string> OnTick(int number);

    [OneWay]
    Task Notify(string message);
}

public interface IPublisherActor : IGrainWithStringKey
{
    Task Subscribe(ITickObserver observer);

    /// <summary>Calls every subscriber's OnTick; each answer, or "ExceptionType: message" for a subscriber that failed.</summary>
    Task<string[]> Publish(int number);

    /// <summary>Sends every subscriber a one-way Notify.</summary>
    Task NotifyAll(string message);

    /// <summary>Hands a reference back to the caller, as a result.</summary>
    Task<ITickObserver?> Echo(ITickObserver? observer);

    /// <summary>Calls an actor reference it was given as an argument.</summary>
    Task<int> AddThrough(ICounterActor counter, int amount);
}

/// <summary>Calls that hold their in-flight slot until told, and a way to know they have all arrived.</summary>
public interface IHoldActor : IGrainWithStringKey
{
    /// <summary>Waits until <see cref="Release"/> is called for the group (or the timeout passes); returns the key.</summary>
    [AlwaysInterleave]
    Task<string> Hold(string group, int timeoutMilliseconds);

    /// <summary>Returns once <paramref name="count"/> Hold calls of the group are inside.</summary>
    [AlwaysInterleave]
    Task WaitForHolders(string group, int count);

    [AlwaysInterleave]
    Task Release(string group);

    /// <summary>Returns the payload it was given (large frames for the back-pressure tests).</summary>
    [AlwaysInterleave]
    Task<byte[]> Echo(byte[] payload);
}

/// <summary>Records every instance's life, for the one-activation-per-key tests (in the hosting process).</summary>
public interface ILifeCountingActor : IGrainWithStringKey
{
    /// <summary>Returns the serial number of the instance that ran the call; throws if that instance was deactivated.</summary>
    Task<int> Touch();
}

/// <summary>An actor whose activation is slow (its key says how slow, in ms) and that records the values it was given.</summary>
public interface ISlowActivationActor : IGrainWithStringKey
{
    Task<int> Record(int value);

    Task<int[]> Recorded();
}

/// <summary>An actor whose first activation fails (per key), and later ones succeed.</summary>
public interface IFlakyActivationActor : IGrainWithStringKey
{
    Task<string> Hello();
}

/// <summary>An actor whose deactivation never ends: shutdown must not wait for it forever.</summary>
public interface IHangingActor : IGrainWithStringKey
{
    Task<int> Ping();
}

/// <summary>An observer that calls an actor back: a cycle through it must fail fast, not wait for the deadline.</summary>
public interface IRelayObserver : IGrainObserver
{
    Task<string> Relay(string cycleActorKey);
}
