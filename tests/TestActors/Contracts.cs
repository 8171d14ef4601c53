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
}

public interface ILifecycleActor : IGrainWithGuidKey
{
    Task<string> Hello();

    Task<int> Ticks();

    Task StartTimer(int periodMilliseconds);

    Task<string[]> Events();
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
