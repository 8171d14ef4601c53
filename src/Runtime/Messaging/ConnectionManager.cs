using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The silo's connections, outbound and inbound, found by the peer's silo id. Outbound connects are
/// asynchronous, shared by every caller that wants the same silo at the same time (none of them blocks a thread),
/// bounded by each caller's deadline, and never cached when they fail: the next call tries again after a short
/// backoff that grows while the peer keeps failing.
/// </summary>
internal sealed class ConnectionManager(SandgrainOptions options, ConnectionSettings settings, TransportSet transports, ILogger logger)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, SiloConnection> _bySilo = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<SiloConnection>>> _connecting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (long At, int Failures)> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<SiloConnection, byte> _all = new();

    /// <summary>Usable connections, either direction.</summary>
    internal int Count => _all.Keys.Count(c => c.IsUsable);

    /// <summary>A usable connection to or from <paramref name="siloId"/>, or null.</summary>
    internal SiloConnection? Find(string siloId) =>
        _bySilo.TryGetValue(siloId, out var connection) && connection.IsUsable ? connection : null;

    /// <summary>A usable connection to the silo of <paramref name="record"/>: one open already, or a new one.</summary>
    /// <exception cref="ActorUnavailableException">The silo could not be reached (its connect failed or was refused).</exception>
    internal async Task<SiloConnection> ConnectAsync(SiloRecord record, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (Find(record.SiloId) is { } open)
            {
                return open;
            }

            // The lazy makes one connect per silo however many callers race here; none of them blocks on it.
            var attempt = _connecting.GetOrAdd(record.SiloId, _ => new Lazy<Task<SiloConnection>>(() => ConnectCoreAsync(record)));
            var task = attempt.Value;
            try
            {
                var connection = await task.WaitAsync(cancellationToken).ConfigureAwait(false);
                if (connection.IsUsable)
                {
                    return connection;
                }
            }
            finally
            {
                if (task.IsCompleted)
                {
                    _connecting.TryRemove(new KeyValuePair<string, Lazy<Task<SiloConnection>>>(record.SiloId, attempt));
                }
            }
        }
    }

    /// <summary>The budgets of one listener, made once per listener.</summary>
    internal InboundSlots NewInboundSlots() => new(options.MaxConnections, options.MaxPendingHandshakes);

    /// <summary>
    /// Serves an incoming connection. One accepted while its listener holds <see cref="SandgrainOptions.MaxConnections"/>
    /// authenticated connections is refused before its handshake, so it costs no more than its accept; one that
    /// arrives while <see cref="SandgrainOptions.MaxPendingHandshakes"/> are in their handshake drops the oldest of them.
    /// </summary>
    internal async Task AcceptAsync(ConnectionContext connection, InboundSlots slots, string address)
    {
        if (!slots.TryBeginHandshake(connection, out var place, out var dropped))
        {
            await RefuseFullAsync(connection, address).ConfigureAwait(false);
            return;
        }

        if (dropped is not null)
        {
            RuntimeLog.InboundRefused(logger, $"dropped the connection at {address} that had waited longest in its handshake: {options.MaxPendingHandshakes} connections were in their handshake (Sandgrain:MaxPendingHandshakes)");
            dropped.Abort(new ConnectionAbortedException($"Dropped: {options.MaxPendingHandshakes} connections were in their handshake and this one had waited longest (Sandgrain:MaxPendingHandshakes)."));
        }

        // The authenticated place is taken inside the handshake, before this side's proof is sent: a peer that has
        // our proof holds a place, and one that proves itself when the budget is full is refused instead of its proof.
        var admitted = false;
        string? remote = null;
        try
        {
            remote = await Handshake.RunAsync(connection, settings, expectedSiloId: null, initiator: false, () => admitted = slots.TryAuthenticate(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ProtocolViolationException or PeerRefusalException or IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException or OperationCanceledException)
        {
            // Dropped connections were reported when they were dropped; the handshake disposed the connection.
            if (place!.List is not null)
            {
                RuntimeLog.InboundRefused(logger, e.Message);
            }

            return;
        }
        finally
        {
            slots.EndHandshake(place!);
            if (admitted && remote is null)
            {
                // The handshake failed after its place was taken (sending the proof).
                slots.Release();
            }
        }

        if (remote is null)
        {
            await RefuseFullAsync(connection, address).ConfigureAwait(false);
            return;
        }

        try
        {
            await using var silo = Track(new SiloConnection(connection, settings, remote, remoteHelper: null));
            await silo.Closed.ConfigureAwait(false);
        }
        finally
        {
            slots.Release();
        }
    }

    private async Task RefuseFullAsync(ConnectionContext connection, string address)
    {
        var reason = $"silo {settings.LocalSiloId} already holds {options.MaxConnections} connections at {address}; one more is over the limit of {options.MaxConnections} (Sandgrain:MaxConnections)";
        RuntimeLog.InboundRefused(logger, reason);
        await Handshake.RefuseAsync(connection, reason).ConfigureAwait(false);
    }

    /// <summary>Says goodbye on every connection, waiting at most <paramref name="timeout"/>.</summary>
    internal async Task SayGoodbyeAsync(string reason, TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(_all.Keys.Select(c => c.SayGoodbyeAsync(reason))).WaitAsync(timeout, settings.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            RuntimeLog.ShutdownCutShort(logger, timeout.TotalSeconds, "goodbyes to peers that are not reading were not all sent");
        }
    }

    internal async Task CloseAllAsync()
    {
        foreach (var connection in _all.Keys)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private SiloConnection Track(SiloConnection connection)
    {
        _all[connection] = 0;
        _bySilo[connection.RemoteSiloId] = connection;

        // Forgotten as soon as it closes, so the next call looks again (and relaunches a helper that is gone).
        connection.Closed.ContinueWith(
            static (_closedTask, state) =>
            {
                var (manager, closed) = ((ConnectionManager, SiloConnection))state!;
                manager._all.TryRemove(closed, out _);
                manager._bySilo.TryRemove(new KeyValuePair<string, SiloConnection>(closed.RemoteSiloId, closed));
                if (closed.IsOutbound)
                {
                    // Inbound connections are disposed by the accept that serves them; outbound ones here.
                    _ = closed.DisposeAsync().AsTask();
                }
            },
            (this, connection),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        connection.Start();
        return connection;
    }

    private async Task<SiloConnection> ConnectCoreAsync(SiloRecord record)
    {
        // Off the caller's stack, so that even a transport whose connect blocks holds no caller.
        await Task.Yield();
        await BackoffAsync(record.SiloId).ConfigureAwait(false);
        var name = record.Helper is null ? $"silo {record.SiloId}" : $"helper '{record.Helper}' (silo {record.SiloId})";
        if (transports.Choose(record.Addresses) is not { } choice)
        {
            throw new ActorUnavailableException($"{name} listens on [{string.Join(", ", record.Addresses)}], but this process uses [{string.Join(", ", transports.Order)}] (Sandgrain:Transports); they share no transport.");
        }

        try
        {
            using var timeout = new CancellationTokenSource(settings.HandshakeTimeout, settings.Time);
            var connection = await choice.Transport.ConnectAsync(choice.Transport.CreateEndPoint(choice.Address), timeout.Token).ConfigureAwait(false);
            // The initiator is never asked to admit, so it gets an id or an exception.
            var remote = (await Handshake.RunAsync(connection, settings, record.SiloId, initiator: true, admit: null, CancellationToken.None).ConfigureAwait(false))!;
            _failures.TryRemove(record.SiloId, out _);
            return Track(new SiloConnection(connection, settings, remote, record.Helper) { IsOutbound = true });
        }
        catch (PeerRefusalException e)
        {
            Failed(record.SiloId);
            throw new ConnectionRefusedException($"{name} at {choice.Address} refused the connection: {e.Reason}", e.Reason);
        }
        catch (OperationCanceledException e)
        {
            Failed(record.SiloId);
            throw new ActorUnavailableException($"Could not connect to {name} at {choice.Address} within {settings.HandshakeTimeout.TotalSeconds:0.#} s (Sandgrain:HandshakeTimeout): it does not accept connections.", e);
        }
        catch (Exception e) when (e is EndpointNotFoundException or IOException or ProtocolViolationException or UnauthorizedAccessException or TimeoutException or System.Net.Sockets.SocketException)
        {
            Failed(record.SiloId);
            throw new ActorUnavailableException($"Could not connect to {name} at {choice.Address}: {e.Message}", e);
        }
    }

    private void Failed(string siloId) =>
        _failures.AddOrUpdate(siloId, _ => (settings.Time.GetTimestamp(), 1), (_, f) => (settings.Time.GetTimestamp(), f.Failures + 1));

    /// <summary>Waits out what is left of the backoff after this silo's last failed connect (none after a success).</summary>
    private async Task BackoffAsync(string siloId)
    {
        if (!_failures.TryGetValue(siloId, out var failure))
        {
            return;
        }

        var backoff = TimeSpan.FromMilliseconds(Math.Min(FirstBackoff.TotalMilliseconds * (1 << Math.Min(failure.Failures - 1, 10)), MaxBackoff.TotalMilliseconds));
        var left = backoff - settings.Time.GetElapsedTime(failure.At);
        if (left > TimeSpan.Zero)
        {
            await Task.Delay(left, settings.Time).ConfigureAwait(false);
        }
    }
}
