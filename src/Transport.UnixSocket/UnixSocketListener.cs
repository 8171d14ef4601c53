using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// A listening socket in the group container. Accepts connections from processes of the same user only;
/// removes its socket file when unbound.
/// </summary>
internal sealed class UnixSocketListener : IConnectionListener
{
    private readonly UnixSocketTransport _transport;
    private readonly UnixSocketEndPoint _endPoint;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private int _unbound;
    private int _failures;

    internal UnixSocketListener(UnixSocketTransport transport, UnixSocketEndPoint endPoint, Socket socket, ILogger logger)
    {
        _transport = transport;
        _endPoint = endPoint;
        _socket = socket;
        _logger = logger;
    }

    public EndPoint EndPoint => _endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Volatile.Read(ref _unbound) == 1 && e is SocketException or ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException e)
            {
                // Per-connection failures (a peer that vanished mid-accept) and running out of descriptors (EMFILE,
                // ENFILE: every accept fails at once until some close) must not end the listener, spin it, or flood
                // the log: one warning per run of failures, and a pause that grows to 1 s between tries.
                if (_failures++ == 0)
                {
                    UnixSocketLog.AcceptFailed(_logger, _endPoint.ToString(), e.SocketErrorCode, e.Message);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(10 << Math.Min(_failures - 1, 7), 1_000)), cancellationToken).ConfigureAwait(false);
                continue;
            }

            // Every thread the runtime starts needs descriptors of its own (.NET aborts the process with "Out of
            // memory." when it cannot get them), so connections are refused well before the limit, not at it.
            if (DescriptorHeadroom.IsNearLimit(accepted, out var descriptor, out var limit, out var reserve))
            {
                accepted.Dispose();
                if (_failures++ == 0)
                {
                    UnixSocketLog.NearDescriptorLimit(_logger, _endPoint.ToString(), descriptor, limit, reserve);
                }

                continue;
            }

            if (_failures > 0)
            {
                UnixSocketLog.AcceptingAgain(_logger, _endPoint.ToString(), _failures);
                _failures = 0;
            }

            var connection = _transport.Accept(accepted, _endPoint);
            if (connection is not null)
            {
                return connection;
            }
        }
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) == 1)
        {
            return;
        }

        // Remove the file while still holding the socket, under the bind lock, so that no new binder's file is removed.
        using (await _transport.TakeBindLockAsync(_endPoint, cancellationToken).ConfigureAwait(false))
        {
            try
            {
                File.Delete(_endPoint.Path);
            }
            catch (IOException)
            {
                // The folder is gone already.
            }

            _socket.Dispose();
        }
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}
