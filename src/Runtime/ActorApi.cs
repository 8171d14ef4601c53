using Orleans;

namespace Sandgrain;

/// <summary>Gets references to actors by name, wherever they live. Shaped like Orleans' <c>IGrainFactory</c>.</summary>
public interface IActorFactory
{
    /// <summary>A reference to the actor of interface <typeparamref name="TActor"/> with a string key.</summary>
    TActor GetGrain<TActor>(string key) where TActor : IGrainWithStringKey;

    /// <summary>A reference to the actor of interface <typeparamref name="TActor"/> with a Guid key.</summary>
    TActor GetGrain<TActor>(Guid key) where TActor : IGrainWithGuidKey;

    /// <summary>A reference to the actor of interface <typeparamref name="TActor"/> with an integer key.</summary>
    TActor GetGrain<TActor>(long key) where TActor : IGrainWithIntegerKey;

    /// <summary>
    /// Makes <paramref name="observer"/>, an object of this process, callable from other processes: pass the
    /// returned reference to an actor as an argument and the actor's calls on it run here, over the connection
    /// the actor's silo has with this process. The object is held until <see cref="DeleteObjectReference{TObserver}"/>;
    /// its methods may run concurrently, so it must be thread-safe. Calls to it fail at once, with
    /// <see cref="ActorUnavailableException"/>, once this process is gone or the reference is deleted.
    /// Shaped like Orleans' <c>IGrainFactory.CreateObjectReference</c>.
    /// </summary>
    /// <typeparam name="TObserver">The observer interface (derived from <c>IGrainObserver</c>) the reference exposes.</typeparam>
    /// <exception cref="ArgumentException"><paramref name="observer"/> does not implement <typeparamref name="TObserver"/>.</exception>
    TObserver CreateObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver;

    /// <summary>Forgets an observer made callable by <see cref="CreateObjectReference{TObserver}"/>; later calls to it fail at once.</summary>
    /// <param name="observer">The object, or the reference that was returned for it.</param>
    void DeleteObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver;
}

/// <summary>What an actor implementation can ask of the runtime; take it as a constructor parameter.</summary>
public interface IActorContext
{
    /// <summary>The actor's id: <c>&lt;interface&gt;/&lt;key&gt;</c>.</summary>
    string ActorId { get; }

    /// <summary>The key as text (a Guid key in "N" format, an integer key in decimal).</summary>
    string Key { get; }

    /// <summary>The key of an actor addressed by a Guid.</summary>
    Guid GuidKey { get; }

    /// <summary>The key of an actor addressed by an integer.</summary>
    long IntegerKey { get; }

    /// <summary>The factory, to call other actors.</summary>
    IActorFactory Factory { get; }

    /// <summary>
    /// Runs <paramref name="callback"/> after <paramref name="dueTime"/> and then every <paramref name="period"/>, as a turn
    /// of this activation (never at the same time as a request, unless the actor is reentrant). A tick that finds the
    /// previous one still running is skipped. Timers end when the activation is deactivated or the result is disposed.
    /// </summary>
    IDisposable RegisterTimer(Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period);

    /// <summary>Deactivates this activation once the current request completes.</summary>
    void DeactivateOnIdle();
}

/// <summary>Optional activation and deactivation hooks for an actor implementation.</summary>
public interface IActorLifecycle
{
    /// <summary>Runs before the first call reaches a new activation.</summary>
    Task OnActivateAsync(CancellationToken cancellationToken);

    /// <summary>Runs when the activation is collected, asked to deactivate, or its silo shuts down.</summary>
    Task OnDeactivateAsync(CancellationToken cancellationToken);
}
