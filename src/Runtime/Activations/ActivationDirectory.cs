using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// The activations of the actor types this silo hosts: at most one per (interface, key) at any moment, created on
/// the first call and collected after <see cref="SandgrainOptions.ActivationIdleTimeout"/> without calls.
/// </summary>
/// <remarks>
/// An entry stays here until its deactivation has finished, so a call that arrives meanwhile finds it
/// deactivating, waits, and then goes to a new activation: two instances of one key are never live at once.
/// Whether an activation is idle is decided under its own lock against requests entering, never from a snapshot.
/// </remarks>
internal sealed class ActivationDirectory : IAsyncDisposable
{
    private readonly Dictionary<string, ActorRegistration> _hosted;
    // By (interface, key), not by the "interface/key" id: a lookup builds no string.
    private readonly ConcurrentDictionary<(string Interface, string Key), Activation> _activations = new();
    private readonly ActivationServices _services;
    private readonly TimeSpan _idle;
    private readonly int _maxActivations;
    private readonly ITimer _collector;
    private readonly Lock _createLock = new();
    private volatile bool _stopping;

    internal ActivationDirectory(IEnumerable<ActorRegistration> hosted, IServiceProvider services, Func<IActorFactory> factory, Func<ICallInvoker> invoker, SandgrainOptions options, TimeProvider time, ILogger logger)
    {
        _hosted = hosted.GroupBy(r => r.Info.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _services = new ActivationServices(services, factory, invoker, time, logger, a => _ = DeactivateAsync(a));
        _idle = options.ActivationIdleTimeout;
        _maxActivations = options.MaxActivations;
        var interval = TimeSpan.FromMilliseconds(Math.Clamp(_idle.TotalMilliseconds / 4, 50, 60_000));
        _collector = time.CreateTimer(static s => ((ActivationDirectory)s!).CollectIdle(), this, interval, interval);
    }

    /// <summary>The interface names this silo hosts.</summary>
    internal IReadOnlyCollection<string> HostedTypes => _hosted.Keys;

    /// <summary>Activations in the directory, including those still deactivating.</summary>
    internal int Count => _activations.Count;

    internal bool Hosts(string interfaceName) => _hosted.ContainsKey(interfaceName);

    /// <summary>
    /// A request to an activation of this silo, from here or elsewhere. The request owns <paramref name="arguments"/>
    /// (disposed when it is done, or at once when it cannot run).
    /// </summary>
    internal ValueTask<PooledBuffer> InvokeAsync(ActorInterfaceInfo info, string key, ActorMethodInfo method, PooledBuffer arguments, string[] chain, CancellationToken cancellationToken)
    {
        try
        {
            var activation = GetOrCreate(info, key, chain, method);
            if (activation.TryEnter())
            {
                return activation.InvokeEnteredAsync(method, arguments, chain, cancellationToken);
            }

            return new ValueTask<PooledBuffer>(InvokeAfterDeactivationAsync(activation, info, key, method, arguments, chain, cancellationToken));
        }
        catch
        {
            arguments.Dispose();
            throw;
        }
    }

    /// <summary>Deactivates every activation (shutdown), waiting at most <paramref name="timeout"/>; returns how many there were.</summary>
    internal async Task<int> DeactivateAllAsync(TimeSpan timeout)
    {
        _stopping = true;
        var all = _activations.Values.ToList();
        foreach (var activation in all)
        {
            if (activation.TryBeginDeactivation())
            {
                _ = DeactivateAsync(activation);
            }
        }

        try
        {
            await Task.WhenAll(all.Select(a => a.Gone)).WaitAsync(timeout, _services.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var stuck = all.Where(a => !a.Gone.IsCompleted).Select(a => a.Id).ToList();
            RuntimeLog.ShutdownCutShort(_services.Logger, timeout.TotalSeconds, $"{stuck.Count} activation(s) still running or deactivating: {string.Join(", ", stuck.Take(10))}{(stuck.Count > 10 ? ", …" : "")}");
        }

        return all.Count;
    }

    public async ValueTask DisposeAsync()
    {
        await _collector.DisposeAsync().ConfigureAwait(false);
        if (!_stopping)
        {
            await DeactivateAllAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
    }

    private async Task<PooledBuffer> InvokeAfterDeactivationAsync(Activation old, ActorInterfaceInfo info, string key, ActorMethodInfo method, PooledBuffer arguments, string[] chain, CancellationToken cancellationToken)
    {
        try
        {
            var activation = old;
            while (true)
            {
                await activation.Gone.WaitAsync(cancellationToken).ConfigureAwait(false);
                activation = GetOrCreate(info, key, chain, method);
                if (activation.TryEnter())
                {
                    break;
                }
            }

            var entered = activation.InvokeEnteredAsync(method, arguments, chain, cancellationToken);
            arguments = null!;
            return await entered.ConfigureAwait(false);
        }
        finally
        {
            arguments?.Dispose();
        }
    }

    private Activation GetOrCreate(ActorInterfaceInfo info, string key, string[] chain, ActorMethodInfo method)
    {
        if (!_activations.TryGetValue((info.Name, key), out var activation))
        {
            activation = Create(info, key);
        }

        if (chain.Length > 0 && !activation.Reentrant && (method.Flags & CallFlags.AlwaysInterleave) == 0 && Array.IndexOf(chain, activation.Id) >= 0)
        {
            var id = activation.Id;
            string[] cycle = [.. chain, id];
            throw new CallCycleException(
                $"Call cycle: {string.Join(" → ", cycle)}. {id} is not reentrant and is already waiting further up this call chain, so the call would wait for itself. Mark the class [Reentrant] or the method [AlwaysInterleave], or break the cycle.",
                cycle);
        }

        return activation;
    }

    private Activation Create(ActorInterfaceInfo info, string key)
    {
        var id = info.Name + "/" + key;
        if (!_hosted.TryGetValue(info.Name, out var registration))
        {
            throw new ActorNotHostedException($"This silo does not host {info.Name}.");
        }

        // Creation runs the actor's constructor, so it happens under a lock, once, never speculatively.
        lock (_createLock)
        {
            if (_activations.TryGetValue((info.Name, key), out var existing))
            {
                return existing;
            }

            if (_stopping)
            {
                throw new ActorUnavailableException($"{id}: this silo is shutting down and activates nothing new.");
            }

            if (_activations.Count >= _maxActivations)
            {
                throw new SandgrainLimitExceededException($"{id} would be activation {_activations.Count + 1} of this silo; the limit is {_maxActivations} (Sandgrain:MaxActivations).");
            }

            var created = new Activation(registration, key, _services);
            _activations[(info.Name, key)] = created;
            SandgrainTelemetry.ActivationChanged(1);
            return created;
        }
    }

    /// <summary>Runs a deactivation begun by the activation's state change, then removes the entry.</summary>
    private async Task DeactivateAsync(Activation activation)
    {
        await Task.Yield();
        try
        {
            await activation.DeactivateAsync().ConfigureAwait(false);
        }
        finally
        {
            if (_activations.TryRemove(new KeyValuePair<(string, string), Activation>((activation.Info.Name, activation.Key), activation)))
            {
                SandgrainTelemetry.ActivationChanged(-1);
            }

            activation.MarkGone();
        }
    }

    private void CollectIdle()
    {
        var collected = 0;
        foreach (var activation in _activations.Values)
        {
            if (activation.TryBeginIdleDeactivation(_idle))
            {
                collected++;
                _ = DeactivateAsync(activation);
            }
        }

        if (collected > 0)
        {
            RuntimeLog.Collected(_services.Logger, collected);
        }
    }
}
