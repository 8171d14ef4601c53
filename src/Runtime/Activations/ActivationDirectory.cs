using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// The activations of the actor types this silo hosts: one per (interface, key), created on the first call and
/// collected after <see cref="SandgrainOptions.ActivationIdleTimeout"/> without calls.
/// </summary>
internal sealed class ActivationDirectory : IAsyncDisposable
{
    private readonly Dictionary<string, ActorRegistration> _hosted;
    private readonly ConcurrentDictionary<string, Activation> _activations = new(StringComparer.Ordinal);
    private readonly IServiceProvider _services;
    private readonly Func<IActorFactory> _factory;
    private readonly ILogger _logger;
    private readonly long _idleTicks;
    private readonly int _maxActivations;
    private readonly Timer _collector;
    private readonly Lock _createLock = new();

    internal ActivationDirectory(IEnumerable<ActorRegistration> hosted, IServiceProvider services, Func<IActorFactory> factory, SandgrainOptions options, ILogger logger)
    {
        _hosted = hosted.GroupBy(r => r.Info.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        _services = services;
        _factory = factory;
        _logger = logger;
        _idleTicks = (long)options.ActivationIdleTimeout.TotalMilliseconds;
        _maxActivations = options.MaxActivations;
        var interval = TimeSpan.FromMilliseconds(Math.Clamp(options.ActivationIdleTimeout.TotalMilliseconds / 4, 50, 60_000));
        _collector = new Timer(_ => _ = CollectIdleAsync(), null, interval, interval);
    }

    /// <summary>The interface names this silo hosts.</summary>
    internal IReadOnlyCollection<string> HostedTypes => _hosted.Keys;

    /// <summary>Live activations.</summary>
    internal int Count => _activations.Count;

    internal bool Hosts(string interfaceName) => _hosted.ContainsKey(interfaceName);

    /// <summary>A request from another silo.</summary>
    internal Task<PooledBuffer> InvokeAsync(RequestHeader header, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
    {
        var info = ActorTypeRegistry.Find(header.Interface);
        if (info is null || !_hosted.ContainsKey(header.Interface))
        {
            throw new ActorNotHostedException($"This silo does not host {header.Interface}.");
        }

        var method = info.Method(header.MethodId) ?? throw Serializer.UnknownMethod(info.Name, header.MethodId);
        return InvokeAsync(info, header.Key, method, arguments, header.Chain, cancellationToken);
    }

    /// <summary>A request to an activation of this silo, from here or elsewhere.</summary>
    internal Task<PooledBuffer> InvokeAsync(ActorInterfaceInfo info, string key, ActorMethodInfo method, ReadOnlyMemory<byte> arguments, string[] chain, CancellationToken cancellationToken)
    {
        var activation = GetOrCreate(info, key);
        if (!activation.Reentrant && (method.Flags & CallFlags.AlwaysInterleave) == 0 && chain.Contains(activation.Id, StringComparer.Ordinal))
        {
            string[] cycle = [.. chain, activation.Id];
            throw new CallCycleException(
                $"Call cycle: {string.Join(" → ", cycle)}. {activation.Id} is not reentrant and is already waiting further up this call chain, so the call would wait for itself. Mark the class [Reentrant] or the method [AlwaysInterleave], or break the cycle.",
                cycle);
        }

        return activation.InvokeAsync(method.Id, method.Flags, arguments, chain, cancellationToken);
    }

    internal async Task DeactivateSoonAsync(Activation activation)
    {
        await Task.Yield();
        if (_activations.TryRemove(new KeyValuePair<string, Activation>(activation.Id, activation)))
        {
            await activation.DeactivateAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Deactivates every activation (shutdown); returns how many there were.</summary>
    internal async Task<int> DeactivateAllAsync()
    {
        var all = _activations.Values.ToList();
        _activations.Clear();
        await Task.WhenAll(all.Select(a => a.DeactivateAsync())).ConfigureAwait(false);
        return all.Count;
    }

    public async ValueTask DisposeAsync()
    {
        await _collector.DisposeAsync().ConfigureAwait(false);
        await DeactivateAllAsync().ConfigureAwait(false);
    }

    private Activation GetOrCreate(ActorInterfaceInfo info, string key)
    {
        var id = info.Name + "/" + key;
        if (_activations.TryGetValue(id, out var existing) && !existing.IsDeactivated)
        {
            return existing;
        }

        if (!_hosted.TryGetValue(info.Name, out var registration))
        {
            throw new ActorNotHostedException($"This silo does not host {info.Name}.");
        }

        // Creation runs the actor's constructor, so it happens under a lock, once, never speculatively.
        lock (_createLock)
        {
            if (_activations.TryGetValue(id, out existing) && !existing.IsDeactivated)
            {
                return existing;
            }

            if (_activations.Count >= _maxActivations)
            {
                throw new SandgrainLimitExceededException($"{id} would be activation {_activations.Count + 1} of this silo; the limit is {_maxActivations} (Sandgrain:MaxActivations).");
            }

            var created = new Activation(registration, key, this, _services, _factory(), _logger);
            _activations[id] = created;
            SandgrainTelemetry.ActivationChanged(1);
            return created;
        }
    }

    private async Task CollectIdleAsync()
    {
        var idle = _activations.Values.Where(a => a.IsIdle(_idleTicks)).ToList();
        foreach (var activation in idle)
        {
            if (_activations.TryRemove(new KeyValuePair<string, Activation>(activation.Id, activation)))
            {
                await activation.DeactivateAsync().ConfigureAwait(false);
            }
        }

        if (idle.Count > 0)
        {
            RuntimeLog.Collected(_logger, idle.Count);
        }
    }
}
