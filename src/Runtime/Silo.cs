using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Transport;

namespace Sandgrain.Runtime;

/// <summary>
/// The silo's life: listens on each configured transport, publishes its record in the registry, exits when idle
/// (as a helper), and shuts down within <see cref="SandgrainOptions.ShutdownTimeout"/> whatever its actors do.
/// </summary>
internal sealed class Silo(
    SandgrainOptions options,
    GroupContainer container,
    SiloIdentity identity,
    SiloRegistry registry,
    TransportSet transports,
    ConnectionManager connections,
    ActivationDirectory directory,
    TimeProvider time,
    ILogger logger)
{
    private readonly List<IConnectionListener> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private SiloRegistration? _registration;
    private FileLock? _helperInstance;
    private ITimer? _idleTimer;
    private long _idleSince = time.GetTimestamp();
    private int _stopped;

    /// <summary>Raised once when a helper has had no connections and no activations for its idle timeout.</summary>
    internal event Action? IdleExpired;

    /// <summary>The addresses this silo listens on, once started.</summary>
    internal IReadOnlyList<string> Addresses => _registration?.Record.Addresses ?? [];

    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        if (transports.Problem() is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        if (identity.Helper is { } helper)
        {
            _helperInstance = HelperLauncher.TryClaimHelperInstance(container, helper)
                ?? throw new InvalidOperationException($"Another instance of helper '{helper}' is already running in {container.Path}; this one exits.");
        }

        var addresses = new List<string>();
        foreach (var scheme in transports.Order)
        {
            var transport = transports.Find(scheme)!;
            var listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), cancellationToken).ConfigureAwait(false);
            _listeners.Add(listener);
            addresses.Add(listener.EndPoint.ToString()!);
            _acceptLoops.Add(AcceptLoopAsync(listener));
        }

        _registration = registry.Publish(new SiloRecord
        {
            SiloId = identity.SiloId,
            Helper = identity.Helper,
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = Protocol.Version,
            ActorTypes = directory.HostedTypes.ToList(),
            Addresses = addresses,
        });
        RuntimeLog.SiloStarted(logger, identity.SiloId, identity.Helper is null ? "" : $" as helper '{identity.Helper}'", string.Join(", ", directory.HostedTypes), string.Join(", ", addresses));
        if (identity.IdleExit is { } idle)
        {
            // Seed 001: a shared helper exits when no client is left, and is launched again on the next call.
            // Idle from the moment it is registered, not from its construction: a helper that was slow to start
            // (a loaded machine) must not exit before the caller that launched it has had a chance to connect.
            var check = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 20, 5_000));
            Volatile.Write(ref _idleSince, time.GetTimestamp());
            _idleTimer = time.CreateTimer(_ => CheckIdle(idle), null, check, check);
        }
    }

    /// <summary>
    /// Leaves the registry, says goodbye to every peer, deactivates every activation and closes everything, within
    /// <see cref="SandgrainOptions.ShutdownTimeout"/>: what does not finish in time is logged and left behind, and the
    /// helper's instance lock is released either way, so that it can be launched again.
    /// </summary>
    internal async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        var started = time.GetTimestamp();
        TimeSpan Left() => options.ShutdownTimeout - time.GetElapsedTime(started) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
        var deactivated = 0;
        try
        {
            // Not DisposeAsync: stopping may have been started by the timer's own callback, which must not be awaited here.
            _idleTimer?.Dispose();
            foreach (var listener in _listeners)
            {
                await listener.UnbindAsync(cancellationToken).ConfigureAwait(false);
            }

            // Out of the registry first, so no caller picks this silo while it says goodbye and deactivates.
            _registration?.Dispose();
            _registration = null;
            await connections.SayGoodbyeAsync("the silo is shutting down", Left()).ConfigureAwait(false);
            deactivated = await directory.DeactivateAllAsync(Left()).ConfigureAwait(false);
            await connections.CloseAllAsync().WaitAsync(Left(), time, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(_acceptLoops).WaitAsync(Left(), time, cancellationToken).ConfigureAwait(false);
            foreach (var listener in _listeners)
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            RuntimeLog.ShutdownCutShort(logger, options.ShutdownTimeout.TotalSeconds, "connections or listeners did not close in time");
        }
        finally
        {
            // Whatever failed above, this silo leaves the registry and lets go of its helper's instance lock.
            _registration?.Dispose();
            _registration = null;
            _listeners.Clear();
            _helperInstance?.Dispose();
            RuntimeLog.SiloStopped(logger, identity.SiloId, deactivated);
        }
    }

    private void CheckIdle(TimeSpan idle)
    {
        if (connections.Count > 0 || directory.Count > 0)
        {
            Volatile.Write(ref _idleSince, time.GetTimestamp());
            return;
        }

        if (time.GetElapsedTime(Volatile.Read(ref _idleSince)) >= idle)
        {
            _idleTimer?.Dispose();
            RuntimeLog.IdleExit(logger, identity.Helper ?? identity.SiloId, idle.TotalSeconds);

            // Off the timer thread: stopping the host may run the shutdown inline, and the shutdown disposes this timer.
            ThreadPool.UnsafeQueueUserWorkItem(static silo => silo.IdleExpired?.Invoke(), this, preferLocal: false);
        }
    }

    private async Task AcceptLoopAsync(IConnectionListener listener)
    {
        var slots = connections.NewInboundSlots();
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

            _ = connections.AcceptAsync(connection, slots, address);
        }
    }
}
