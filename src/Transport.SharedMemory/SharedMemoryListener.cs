using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// Accepts companion connections and runs each handshake on its own, so that a slow or silent client
/// never holds up the others; finished connections queue for <see cref="AcceptAsync"/>.
/// </summary>
internal sealed class SharedMemoryListener : IConnectionListener
{
    private readonly SharedMemoryTransport _transport;
    private readonly SharedMemoryEndPoint _endPoint;
    private readonly IConnectionListener _companion;
    private readonly ILogger _logger;
    private readonly Channel<ConnectionContext> _accepted = Channel.CreateUnbounded<ConnectionContext>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private int _unbound;

    internal SharedMemoryListener(SharedMemoryTransport transport, SharedMemoryEndPoint endPoint, IConnectionListener companion, ILogger logger)
    {
        _transport = transport;
        _endPoint = endPoint;
        _companion = companion;
        _logger = logger;
        _acceptLoop = AcceptLoopAsync();
    }

    public EndPoint EndPoint => _endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _companion.UnbindAsync(cancellationToken).ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
        _accepted.Writer.TryComplete();
        while (_accepted.Reader.TryRead(out var unclaimed))
        {
            await unclaimed.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);
        await _companion.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            ConnectionContext? companion;
            try
            {
                companion = await _companion.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (companion is null)
            {
                return;
            }

            _ = HandshakeAsync(companion);
        }
    }

    private async Task HandshakeAsync(ConnectionContext companion)
    {
        try
        {
            var connection = await _transport.AcceptHandshakeAsync(companion, _endPoint, _stop.Token).ConfigureAwait(false);
            if (!_accepted.Writer.TryWrite(connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // Whatever went wrong (the peer decides what it sends and what it names as its segment), the companion
            // connection, its thread and its descriptor are released here, and the warning is throttled.
            if (!_stop.IsCancellationRequested)
            {
                var reason = e is OperationCanceledException
                    ? $"the peer sent no complete handshake within {_transport.HandshakeTimeout.TotalSeconds:0.#} s (SharedMemoryTransportOptions.HandshakeTimeout)"
                    : $"{e.GetType().Name}: {e.Message}";
                SharedMemoryLog.HandshakeRefused(_logger, _endPoint.ToString(), reason);
            }

            await companion.DisposeAsync().ConfigureAwait(false);
        }
    }
}
