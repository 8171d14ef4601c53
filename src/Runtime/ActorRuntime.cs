using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Orleans;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Transport;

namespace Sandgrain.Runtime;

/// <summary>
/// The silo: places every call (an activation here, or the silo that hosts the type, launching its helper if
/// none is live), keeps the connections to other silos, and serves the actor types registered here.
/// </summary>
internal sealed class ActorRuntime : IActorFactory, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<SiloConnection>>> _outbound = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _routes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<SiloConnection, byte> _connections = new();
    private readonly Dictionary<string, ISandgrainTransport> _transports;
    private readonly List<IConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly SiloRegistry _registry;
    private readonly HelperLauncher _launcher;
    private readonly ILogger _logger;
    private readonly TimeSpan? _idleExit;
    private SiloRegistration? _registration;
    private FileLock? _helperInstance;
    private Timer? _idleTimer;
    private long _idleSince = Environment.TickCount64;

    internal ActorRuntime(
        SandgrainOptions options,
        GroupContainer container,
        SiloRegistry registry,
        HelperLauncher launcher,
        IEnumerable<ISandgrainTransport> transports,
        Func<ActorRuntime, ActivationDirectory> directory,
        LaunchEnvironment? launch,
        ILogger logger)
    {
        Options = options;
        Container = container;
        _registry = registry;
        _launcher = launcher;
        _logger = logger;
        _transports = transports.GroupBy(t => t.Scheme).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        Secret = Security.GroupSecret.LoadOrCreate(container);
        SiloId = launch?.SiloId ?? SiloRecord.NewSiloId();
        Helper = launch?.Helper;
        _idleExit = launch?.IdleTimeout;
        Directory = directory(this);
    }

    internal SandgrainOptions Options { get; }

    /// <summary>The transports this silo listens on and prefers, in order.</summary>
    internal IReadOnlyList<string> TransportOrder => Options.EffectiveTransports(_transports.Keys);

    internal GroupContainer Container { get; }

    internal string SiloId { get; }

    /// <summary>The app group's secret, proven in every handshake.</summary>
    internal Security.GroupSecret Secret { get; }

    internal string? Helper { get; }

    internal ActivationDirectory Directory { get; }

    /// <summary>The objects of this process that other processes may call back.</summary>
    internal ObserverTable Observers { get; } = new();

    /// <summary>The addresses this silo listens on, once started.</summary>
    internal IReadOnlyList<string> Addresses => _registration?.Record.Addresses ?? [];

    /// <summary>Connections open to or from other silos.</summary>
    internal int ConnectionCount => _connections.Keys.Count(c => c.IsUsable);

    /// <summary>Raised once when a helper has had no connections and no activations for its idle timeout.</summary>
    internal event Action? IdleExpired;

    public TActor GetGrain<TActor>(string key) where TActor : IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(key);
        return Reference<TActor>(key, ActorKeyKind.String);
    }

    public TActor GetGrain<TActor>(Guid key) where TActor : IGrainWithGuidKey =>
        Reference<TActor>(key.ToString("N"), ActorKeyKind.Guid);

    public TActor GetGrain<TActor>(long key) where TActor : IGrainWithIntegerKey =>
        Reference<TActor>(key.ToString(System.Globalization.CultureInfo.InvariantCulture), ActorKeyKind.Integer);

    public TObserver CreateObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver
    {
        ArgumentNullException.ThrowIfNull(observer);
        var info = RequireObserver(typeof(TObserver));
        if (observer is ActorProxy existing)
        {
            return (TObserver)(object)existing;
        }

        if (observer is not TObserver)
        {
            throw new ArgumentException($"The object is a {observer.GetType().Name}, which does not implement {info.Name}.", nameof(observer));
        }

        return (TObserver)info.CreateProxy(new ActorReference(info, Observers.Add(info, observer, SiloId), this));
    }

    public void DeleteObjectReference<TObserver>(IGrainObserver observer) where TObserver : IGrainObserver
    {
        ArgumentNullException.ThrowIfNull(observer);
        Observers.Remove(RequireObserver(typeof(TObserver)), observer);
    }

    /// <summary>Starts listening on each configured transport and publishes this silo in the registry.</summary>
    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Helper is not null)
        {
            _helperInstance = HelperLauncher.TryClaimHelperInstance(Container, Helper)
                ?? throw new InvalidOperationException($"Another instance of helper '{Helper}' is already running in {Container.Path}; this one exits.");
        }

        var addresses = new List<string>();
        if (TransportOrder.Count == 0)
        {
            throw new InvalidOperationException("No Sandgrain transport is registered. Call services.AddSandgrainUnixSocketTransport() (and/or AddSandgrainSharedMemoryTransport, AddSandgrainMachTransport).");
        }

        foreach (var scheme in TransportOrder)
        {
            if (!_transports.TryGetValue(scheme, out var transport))
            {
                throw new InvalidOperationException($"Sandgrain:Transports lists '{scheme}', but no transport for '{scheme}' is registered. Register it (AddSandgrainUnixSocketTransport, AddSandgrainSharedMemoryTransport or AddSandgrainMachTransport) or remove it from the list.");
            }

            var listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), cancellationToken).ConfigureAwait(false);
            _listeners.Add(listener);
            addresses.Add(listener.EndPoint.ToString()!);
            _acceptLoops.Add(AcceptLoopAsync(listener));
        }

        _registration = _registry.Publish(new SiloRecord
        {
            SiloId = SiloId,
            Helper = Helper,
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = Protocol.Version,
            ActorTypes = Directory.HostedTypes.ToList(),
            Addresses = addresses,
        });
        RuntimeLog.SiloStarted(_logger, SiloId, Helper is null ? "" : $" as helper '{Helper}'", string.Join(", ", Directory.HostedTypes), string.Join(", ", addresses));
        if (_idleExit is { } idle)
        {
            // Seed 001: a shared helper exits when no client is left, and is launched again on the next call.
            var check = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 20, 5_000));
            _idleTimer = new Timer(_ => CheckIdle(idle), null, check, check);
        }
    }

    /// <summary>Stops accepting, says goodbye to every peer, deactivates every activation and removes the record.</summary>
    internal async Task StopAsync()
    {
        // Not DisposeAsync: stopping may have been started by the timer's own callback, which must not be awaited here.
        _idleTimer?.Dispose();

        foreach (var listener in _listeners)
        {
            await listener.UnbindAsync().ConfigureAwait(false);
        }

        // Out of the registry first, so no caller picks this silo while it says goodbye and deactivates.
        _registration?.Dispose();
        _registration = null;
        await Task.WhenAll(_connections.Keys.Select(c => c.SayGoodbyeAsync("the silo is shutting down"))).ConfigureAwait(false);
        var deactivated = await Directory.DeactivateAllAsync().ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        _listeners.Clear();
        _helperInstance?.Dispose();
        RuntimeLog.SiloStopped(_logger, SiloId, deactivated);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await Directory.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Routes one call; returns its encoded result (null for one-way calls and when not asked to decode).</summary>
    internal async Task<PooledBuffer?> CallAsync(ActorReference target, uint methodId, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken, bool decode)
    {
        var method = target.Info.Method(methodId);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var activity = SandgrainTelemetry.Source.StartActivity(target.Info.ShortName + "/" + (method?.Name ?? "?"), System.Diagnostics.ActivityKind.Client);
        activity?.SetTag("sandgrain.actor", target.ActorId);
        Exception? failure = null;
        try
        {
            var result = await RouteCallAsync(target, method ?? throw Serializer.UnknownMethod(target.Info.Name, methodId), arguments, flags, cancellationToken).ConfigureAwait(false);
            if (!decode)
            {
                result?.Dispose();
                return null;
            }

            return result;
        }
        catch (Exception e)
        {
            failure = e;
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            arguments.Dispose();
            SandgrainTelemetry.CallCompleted(target.Info.Name, SandgrainTelemetry.Outcome(failure), "outgoing", started);
        }
    }

    /// <summary>
    /// Serves an incoming connection from another silo; one over <see cref="SandgrainOptions.MaxConnections"/> on
    /// its listener is refused before its handshake, so it costs no more than its accept.
    /// </summary>
    internal async Task AcceptAsync(ConnectionContext connection, System.Runtime.CompilerServices.StrongBox<int> open, string address)
    {
        var count = Interlocked.Increment(ref open.Value);
        try
        {
            if (count > Options.MaxConnections)
            {
                var reason = $"silo {SiloId} already holds {Options.MaxConnections} connections at {address}; connection {count} is over the limit of {Options.MaxConnections} (Sandgrain:MaxConnections)";
                RuntimeLog.InboundRefused(_logger, reason);
                await SiloConnection.RefuseAsync(connection, reason).ConfigureAwait(false);
                return;
            }

            var silo = await SiloConnection.EstablishAsync(connection, this, expectedSiloId: null, remoteHelper: null, _logger, CancellationToken.None).ConfigureAwait(false);
            await silo.Closed.ConfigureAwait(false);
        }
        catch (ProtocolViolationException e)
        {
            RuntimeLog.InboundRefused(_logger, e.Message);
        }
        finally
        {
            Interlocked.Decrement(ref open.Value);
        }
    }

    /// <summary>Tracks a connection from the moment its handshake is done.</summary>
    internal void OnConnectionOpened(SiloConnection connection) => _connections[connection] = 0;

    /// <summary>Forgets a closed connection, so the next call looks again (and relaunches a helper that is gone).</summary>
    internal void OnConnectionClosed(SiloConnection connection)
    {
        _connections.TryRemove(connection, out _);
        if (_outbound.TryGetValue(connection.RemoteSiloId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && lazy.Value.Result == connection)
        {
            _outbound.TryRemove(new KeyValuePair<string, Lazy<Task<SiloConnection>>>(connection.RemoteSiloId, lazy));
        }

        foreach (var route in _routes.Where(r => r.Value == connection.RemoteSiloId).ToList())
        {
            _routes.TryRemove(route);
        }
    }

    private void CheckIdle(TimeSpan idle)
    {
        if (ConnectionCount > 0 || Directory.Count > 0)
        {
            Volatile.Write(ref _idleSince, Environment.TickCount64);
            return;
        }

        if (Environment.TickCount64 - Volatile.Read(ref _idleSince) >= (long)idle.TotalMilliseconds)
        {
            _idleTimer?.Dispose();
            RuntimeLog.IdleExit(_logger, Helper ?? SiloId, idle.TotalSeconds);

            // Off the timer thread: stopping the host may run the shutdown inline, and the shutdown disposes this timer.
            ThreadPool.UnsafeQueueUserWorkItem(static runtime => runtime.IdleExpired?.Invoke(), this, preferLocal: false);
        }
    }

    private async Task<PooledBuffer?> RouteCallAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var chain = CallContext.OutgoingChain();
        var timeout = ActorCall.TimeoutOverride ?? Options.DefaultCallTimeout;
        if (target.Info.KeyKind == ActorKeyKind.Observer)
        {
            return await CallObserverAsync(target, method, arguments, flags, chain, timeout, cancellationToken).ConfigureAwait(false);
        }

        if (Directory.Hosts(target.Info.Name))
        {
            return await CallLocalAsync(target, method, arguments, chain, timeout, cancellationToken).ConfigureAwait(false);
        }

        var connection = await RouteAsync(target.Info, cancellationToken).ConfigureAwait(false);
        return await connection.CallAsync(target, method, arguments, flags, chain, timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A request from another silo: an activation here, or an observer object of this process.</summary>
    internal Task<PooledBuffer> InvokeIncomingAsync(RequestHeader header, ReadOnlyMemory<byte> arguments, CancellationToken cancellationToken)
    {
        var info = ActorTypeRegistry.Find(header.Interface);
        if (info is not { KeyKind: ActorKeyKind.Observer })
        {
            return Directory.InvokeAsync(header, arguments, cancellationToken);
        }

        var method = info.Method(header.MethodId) ?? throw Serializer.UnknownMethod(info.Name, header.MethodId);
        return Observers.InvokeAsync(this, info, header.Key, method, arguments, cancellationToken);
    }

    private static ActorInterfaceInfo RequireObserver(Type type)
    {
        var info = ActorTypeRegistry.Require(type);
        return info.KeyKind == ActorKeyKind.Observer
            ? info
            : throw new ArgumentException($"{info.Name} is an actor interface; object references are made for observer interfaces (derived from IGrainObserver).");
    }

    /// <summary>
    /// A call to an observer: run here when this process made it; otherwise sent over the connection to the silo
    /// that made it (the one it called from, normally), or a new connection to that silo if it is still alive.
    /// </summary>
    private async Task<PooledBuffer?> CallObserverAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!ObserverKey.TryParse(target.Key, out var silo, out _))
        {
            throw new ActorCallException($"'{target.Key}' is not an observer reference.");
        }

        if (silo == SiloId)
        {
            if ((method.Flags & CallFlags.OneWay) != 0)
            {
                var copy = PooledBuffer.CopyOf(new ReadOnlySequence<byte>(arguments.WrittenMemory));
                _ = RunOneWayObserverAsync(target, method, copy);
                return null;
            }

            return await Observers.InvokeAsync(this, target.Info, target.Key, method, arguments.WrittenMemory, cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }

        var connection = _connections.Keys.FirstOrDefault(c => c.RemoteSiloId == silo && c.IsUsable);
        if (connection is null)
        {
            var record = _registry.LiveSilos().FirstOrDefault(r => r.SiloId == silo)
                ?? throw new ActorUnavailableException($"{target.Info.Name}.{method.Name}: the process that created observer '{target.Key}' (silo {silo}) is gone: this silo has no connection to it and the registry has no live record of it.");
            connection = await ConnectAsync(record, cancellationToken).ConfigureAwait(false);
        }

        return await connection.CallAsync(target, method, arguments, flags, chain, timeout, cancellationToken).ConfigureAwait(false);
    }

    private async Task RunOneWayObserverAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments)
    {
        try
        {
            using var result = await Observers.InvokeAsync(this, target.Info, target.Key, method, arguments.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            RuntimeLog.OneWayFailed(_logger, target.Info.Name, target.Key, e);
        }
        finally
        {
            arguments.Dispose();
        }
    }

    private TActor Reference<TActor>(string key, ActorKeyKind kind)
    {
        var info = ActorTypeRegistry.Require(typeof(TActor));
        if (info.KeyKind != kind)
        {
            throw new ArgumentException($"{info.Name} is addressed by a {info.KeyKind} key, not a {kind} key.");
        }

        return (TActor)info.CreateProxy(new ActorReference(info, key, this));
    }

    private async Task<PooledBuffer?> CallLocalAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if ((method.Flags & CallFlags.OneWay) != 0)
        {
            var copy = PooledBuffer.CopyOf(new ReadOnlySequence<byte>(arguments.WrittenMemory));
            _ = RunOneWayLocalAsync(target, method, copy, chain);
            return null;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var call = Directory.InvokeAsync(target.Info, target.Key, method, arguments.WrittenMemory, chain, deadline.Token);
        try
        {
            return await call.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ActorCallTimeoutException($"{target.Info.Name}.{method.Name} on '{target.Key}' (in this silo) did not complete within {timeout.TotalSeconds:0.###} s{SiloConnection.ChainText(chain)}.");
        }
    }

    private async Task RunOneWayLocalAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, string[] chain)
    {
        try
        {
            using var result = await Directory.InvokeAsync(target.Info, target.Key, method, arguments.WrittenMemory, chain, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            RuntimeLog.OneWayFailed(_logger, target.Info.Name, target.Key, e);
        }
        finally
        {
            arguments.Dispose();
        }
    }

    private async ValueTask<SiloConnection> RouteAsync(ActorInterfaceInfo info, CancellationToken cancellationToken)
    {
        if (_routes.TryGetValue(info.Name, out var siloId)
            && _outbound.TryGetValue(siloId, out var cached)
            && cached.Value.IsCompletedSuccessfully
            && cached.Value.Result.IsUsable)
        {
            return cached.Value.Result;
        }

        while (true)
        {
            var record = FindHost(info) ?? await LaunchHostAsync(info, cancellationToken).ConfigureAwait(false);
            try
            {
                var connection = await ConnectAsync(record, cancellationToken).ConfigureAwait(false);
                _routes[info.Name] = record.SiloId;
                return connection;
            }
            catch (ActorUnavailableException)
            {
                // A silo killed a moment ago can look alive until the kernel has closed all its files. Nothing
                // was sent, so looking again (and launching a new helper) is safe.
                if (!await IsDyingAsync(record, cancellationToken).ConfigureAwait(false))
                {
                    throw;
                }
            }
        }
    }

    /// <summary>True when a silo that refused a connection loses its registry lock within a second: it was dying.</summary>
    private async Task<bool> IsDyingAsync(SiloRecord record, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + 1_000;
        while (Environment.TickCount64 < deadline)
        {
            if (!_registry.LiveSilos().Any(r => r.SiloId == record.SiloId))
            {
                return true;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    private SiloRecord? FindHost(ActorInterfaceInfo info) =>
        _registry.LiveSilos()
            .Where(r => r.SiloId != SiloId && r.ActorTypes.Any(t => t == info.Name || t == info.ShortName))
            .OrderBy(r => r.StartTime)
            .ThenBy(r => r.SiloId, StringComparer.Ordinal)
            .FirstOrDefault();

    private async Task<SiloRecord> LaunchHostAsync(ActorInterfaceInfo info, CancellationToken cancellationToken)
    {
        var helper = Options.Helpers.FirstOrDefault(h => h.Value.ActorTypes.Any(t => t == info.Name || t == info.ShortName)).Key;
        if (helper is null)
        {
            throw new ActorNotHostedException($"No live silo hosts {info.Name} and no helper provides it. Add '{info.ShortName}' to Sandgrain:Helpers:<name>:ActorTypes, or call AddActor<{info.ShortName}, …>() in the silo that should host it.");
        }

        var record = await _launcher.EnsureRunningAsync(helper, cancellationToken).ConfigureAwait(false);
        if (!record.ActorTypes.Any(t => t == info.Name || t == info.ShortName))
        {
            throw new ActorNotHostedException($"Helper '{helper}' started, but its silo hosts [{string.Join(", ", record.ActorTypes)}], not {info.Name}. Register the actor in the helper (AddActor) or fix Sandgrain:Helpers:{helper}:ActorTypes.");
        }

        return record;
    }

    private async Task<SiloConnection> ConnectAsync(SiloRecord record, CancellationToken cancellationToken)
    {
        while (true)
        {
            var lazy = _outbound.GetOrAdd(record.SiloId, _ => new Lazy<Task<SiloConnection>>(() => ConnectCoreAsync(record)));
            try
            {
                var connection = await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (connection.IsUsable)
                {
                    return connection;
                }

                _outbound.TryRemove(new KeyValuePair<string, Lazy<Task<SiloConnection>>>(record.SiloId, lazy));
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                _outbound.TryRemove(new KeyValuePair<string, Lazy<Task<SiloConnection>>>(record.SiloId, lazy));
                throw;
            }
        }
    }

    private async Task<SiloConnection> ConnectCoreAsync(SiloRecord record)
    {
        var name = record.Helper is null ? $"silo {record.SiloId}" : $"helper '{record.Helper}' (silo {record.SiloId})";
        foreach (var scheme in TransportOrder)
        {
            if (!_transports.TryGetValue(scheme, out var transport))
            {
                continue;
            }

            var offered = record.Addresses.FirstOrDefault(a => a.StartsWith(scheme + ":", StringComparison.Ordinal));
            if (offered is null || !TransportAddress.TryParse(offered, out var address, out _))
            {
                continue;
            }

            try
            {
                var connection = await transport.ConnectAsync(transport.CreateEndPoint(address)).ConfigureAwait(false);
                return await SiloConnection.EstablishAsync(connection, this, record.SiloId, record.Helper, _logger, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is EndpointNotFoundException or IOException or ProtocolViolationException or UnauthorizedAccessException or TimeoutException)
            {
                throw new ActorUnavailableException($"Could not connect to {name} at {offered}: {e.Message}", e);
            }
        }

        throw new ActorUnavailableException($"{name} listens on [{string.Join(", ", record.Addresses)}], but this process uses [{string.Join(", ", TransportOrder)}] (Sandgrain:Transports); they share no transport.");
    }

    private async Task AcceptLoopAsync(IConnectionListener listener)
    {
        var open = new System.Runtime.CompilerServices.StrongBox<int>();
        var address = listener.EndPoint.ToString()!;
        while (true)
        {
            ConnectionContext? connection;
            try
            {
                connection = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            if (connection is null)
            {
                return;
            }

            _ = AcceptAsync(connection, open, address);
        }
    }
}
