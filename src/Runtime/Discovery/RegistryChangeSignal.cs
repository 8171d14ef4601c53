namespace Sandgrain.Runtime.Discovery;

/// <summary>
/// A wake-up for one waiter on <see cref="SiloRegistry.Changed"/>. <see cref="Arm"/> hands out a task that completes
/// at the next change; the callback completes whichever task is armed at that moment.
/// </summary>
/// <remarks>
/// Nothing here is ever disposed: a file-watcher or poll-timer callback that took its copy of the event's handlers
/// before the waiter left still runs after it, and then completes a task that nobody awaits any more, instead of
/// releasing a disposed semaphore on a timer thread (an unhandled exception that ends the process).
/// </remarks>
internal sealed class RegistryChangeSignal : IDisposable
{
    private readonly SiloRegistry _registry;
    private TaskCompletionSource _next = NewSource();

    /// <summary>Starts listening to <paramref name="registry"/>.</summary>
    public RegistryChangeSignal(SiloRegistry registry)
    {
        _registry = registry;
        registry.Changed += OnChanged;
    }

    /// <summary>
    /// Returns a task that completes at the first change after this call. Call it before looking at the registry,
    /// so that a change made while looking is not missed.
    /// </summary>
    public Task Arm()
    {
        var fresh = NewSource();
        Volatile.Write(ref _next, fresh);
        return fresh.Task;
    }

    /// <summary>Stops listening. A callback already running completes a task nobody awaits; that is all it can do.</summary>
    public void Dispose() => _registry.Changed -= OnChanged;

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void OnChanged(object? sender, EventArgs e) => Volatile.Read(ref _next).TrySetResult();
}
