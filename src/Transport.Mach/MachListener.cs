using System.Net;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// A checked-in Mach service. A dedicated thread receives connect requests on the service port, answers each
/// with a new per-connection port, and queues the connection for <see cref="AcceptAsync"/>.
/// </summary>
/// <remarks>
/// Unbinding destroys the service's receive right, which also tells launchd the name is free; requests still
/// queued are destroyed, so their clients' handshakes fail at once (their reply port loses its last sender).
/// </remarks>
[SupportedOSPlatform("macos")]
internal sealed class MachListener : IConnectionListener
{
    private const uint AcceptPollMilliseconds = 200;

    private readonly MachTransport _transport;
    private readonly MachEndPoint _endPoint;
    private readonly uint _servicePort;
    private readonly ILogger _logger;
    private readonly Channel<MachConnection> _accepted;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _portLock = new();
    private volatile bool _stopping;
    private bool _portReleased;
    private int _unbound;

    internal MachListener(MachTransport transport, MachEndPoint endPoint, uint servicePort, int backlog, ILogger logger)
    {
        _transport = transport;
        _endPoint = endPoint;
        _servicePort = servicePort;
        _logger = logger;
        _accepted = Channel.CreateBounded<MachConnection>(new BoundedChannelOptions(backlog)
        {
            SingleReader = false,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public EndPoint EndPoint => _endPoint;

    internal void Start()
    {
        var thread = new Thread(AcceptLoop)
        {
            IsBackground = true,
            Name = "sandgrain-mach-accept",
        };
        thread.Start();
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await _accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_accepted.Reader.TryRead(out var connection))
            {
                return connection;
            }
        }

        return null;
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) == 0)
        {
            _stopping = true;
            WakeAcceptor();
        }

        await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        // Set up but never taken by the application: nobody else will close them.
        while (_accepted.Reader.TryRead(out var connection))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => UnbindAsync();

    private unsafe void AcceptLoop()
    {
        var buffer = (byte*)NativeMemory.AlignedAlloc(MachMessageCodec.SmallReceiveBufferSize, 16);
        try
        {
            while (!_stopping)
            {
                var kr = MachPorts.Receive(buffer, MachMessageCodec.SmallReceiveBufferSize, _servicePort, AcceptPollMilliseconds);
                if (kr is MachAbi.MACH_RCV_TIMED_OUT or MachAbi.MACH_RCV_INTERRUPTED)
                {
                    continue;
                }

                if (kr == MachAbi.MACH_RCV_TOO_LARGE)
                {
                    MachLog.MessageTooLarge(_logger, _endPoint.ToString(), MachMessageCodec.SmallReceiveBufferSize);
                    continue;
                }

                if (kr != MachAbi.MACH_MSG_SUCCESS)
                {
                    MachLog.ListenerReceiveFailed(_logger, _endPoint.ToString(), MachErrors.Describe(kr));
                    break;
                }

                try
                {
                    HandleRequest(buffer);
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
                {
                    // One client's failed setup must not end the listener.
                    MachLog.AcceptFailed(_logger, _endPoint.ToString(), e);
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
            lock (_portLock)
            {
                _portReleased = true;
            }

            MachPorts.DrainAndDestroyReceiveRight(_servicePort, MachAbi.MACH_PORT_NULL);
            _transport.ListenerStopped(_endPoint);
            _accepted.Writer.TryComplete();
            _stopped.TrySetResult();
        }
    }

    private unsafe void HandleRequest(byte* buffer)
    {
        var request = MachMessageCodec.Decode(new ReadOnlySpan<byte>(buffer, MachMessageCodec.SmallReceiveBufferSize));
        if (request is { IsValid: true, Kind: MachMessageKind.WakeUp })
        {
            return;
        }

        var address = _endPoint.ToString();
        if (request is { Status: MachMessageStatus.UnsupportedVersion, Kind: MachMessageKind.Connect })
        {
            MachLog.VersionRefused(_logger, address, request.ProtocolVersion, MachMessageCodec.ProtocolVersion);
            Refuse(request.Port, MachRefusal.UnsupportedVersion);
            return;
        }

        if (!request.IsValid || request.Kind != MachMessageKind.Connect)
        {
            MachLog.MalformedMessage(_logger, address, request.MessageId, request.HasSender ? request.Sender.ProcessId : -1, request.Status);
            MachPorts.DestroyReceived(buffer, MachMessageCodec.SmallReceiveBufferSize);
            return;
        }

        var peer = request.Sender;
        if (peer.EffectiveUserId != _transport.OwnUserId)
        {
            MachLog.PeerUserRefused(_logger, address, peer.EffectiveUserId, peer.ProcessId, _transport.OwnUserId);
            Refuse(request.Port, MachRefusal.OtherUser);
            return;
        }

        var connection = _transport.Accept(request.Port, peer, _endPoint);
        if (connection is not null)
        {
            Enqueue(connection);
        }
    }

    /// <summary>Answers with a refusal that moves the client's send right back, so the listener keeps no reference.</summary>
    private unsafe void Refuse(uint clientPort, MachRefusal reason)
    {
        byte* message = stackalloc byte[MachMessageCodec.ConnectRefusedSize];
        _ = MachMessageCodec.EncodeConnectRefused(new Span<byte>(message, MachMessageCodec.ConnectRefusedSize), clientPort, reason);
        if (MachPorts.Send(message, MachAbi.MACH_MSG_TIMEOUT_NONE) != MachAbi.MACH_MSG_SUCCESS)
        {
            MachPorts.DestroyReturned(message);
        }
    }

    private void Enqueue(MachConnection connection)
    {
        while (!_accepted.Writer.TryWrite(connection))
        {
            if (_stopping)
            {
                connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
                return;
            }

            // The application is not accepting: wait for room, looking at the stop flag now and then.
            _ = _accepted.Writer.WaitToWriteAsync().AsTask().Wait(TimeSpan.FromMilliseconds(AcceptPollMilliseconds));
        }
    }

    private unsafe void WakeAcceptor()
    {
        lock (_portLock)
        {
            if (_portReleased)
            {
                return;
            }

            byte* message = stackalloc byte[MachMessageCodec.HeaderSize];
            _ = MachMessageCodec.EncodeWakeUp(new Span<byte>(message, MachMessageCodec.HeaderSize), _servicePort);
            if (MachPorts.Send(message, MachAbi.MACH_MSG_TIMEOUT_NONE) != MachAbi.MACH_MSG_SUCCESS)
            {
                MachPorts.DestroyReturned(message);
            }
        }
    }
}
