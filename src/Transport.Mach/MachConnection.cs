using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// One Mach connection: a port pair (our receive right, a send right to the peer's) exposed as a duplex byte
/// stream. A dedicated thread receives into the input pipe; an async loop drains the output pipe into messages.
/// </summary>
/// <remarks>
/// <para>
/// The peer's audit token is pinned at the handshake and every message from any other sender is dropped
/// (a send right can be handed on, so anyone could be holding one). The kernel tells us when the peer is gone:
/// <c>MACH_NOTIFY_DEAD_NAME</c> when its receive right dies (exit, crash, dispose), <c>MACH_NOTIFY_NO_SENDERS</c>
/// when it drops its send right to us; both arrive behind everything the peer sent, so nothing is lost and the
/// input then ends with <see cref="ConnectionResetException"/>, unless the peer had half-closed first.
/// </para>
/// <para>
/// Completing the application's output sends an end-of-stream message (half-close); the peer may go on
/// writing. <see cref="PipeConnection.DisposeAsync"/> sends what is queued and that message before it closes;
/// <see cref="PipeConnection.Abort(ConnectionAbortedException)"/> closes at once and discards it.
/// </para>
/// </remarks>
[SupportedOSPlatform("macos")]
internal sealed partial class MachConnection : PipeConnection
{
    private readonly uint _receivePort;
    private readonly uint _sendPort;
    private readonly AuditToken _peerToken;
    private readonly ILogger _logger;
    private readonly string _address;
    private readonly Lock _portLock = new();
    private volatile Ending? _ending;
    private int _loopsRunning = 2;
    private bool _portsReleased;
    private int _endOfStreamReceived;
    private int _endOfStreamSent;

    internal MachConnection(uint receivePort, uint sendPort, AuditToken peerToken, string address, EndPoint? local, EndPoint? remote, MachTransportOptions options, ILogger logger)
        : base("mach", new PeerIdentity(peerToken.EffectiveUserId, peerToken.ProcessId > 0 ? peerToken.ProcessId : null), local, remote, options.MaxReadBufferSize, options.MaxWriteBufferSize, inlineReads: false, options.CloseTimeout)
    {
        _receivePort = receivePort;
        _sendPort = sendPort;
        _peerToken = peerToken;
        _address = address;
        _logger = logger;
        Peer = (PeerIdentity)Features.Get<IPeerIdentityFeature>()!;
    }

    internal PeerIdentity Peer { get; }

    // A thread of its own blocks in mach_msg: one wake-up per message. It uses a receive timeout so that it
    // also notices shutdown when the wake-up message cannot be queued.
    protected override string ReceiveThreadName => "sandgrain-mach-recv";

    protected override void Stop(Exception reason) => Close(reason, peerGone: false);

    protected override ValueTask ReleaseResourcesAsync()
    {
        ReleasePorts();
        return default;
    }

    protected override void OnClosed(string reason) => MachLog.ConnectionEnded(_logger, ConnectionId, _address, reason);

    /// <summary>
    /// Ends the connection: records why, stops both loops (the receive thread through a wake-up message or its
    /// timeout, the send loop through a cancelled read) and fires <see cref="BaseConnectionContext.ConnectionClosed"/>. A local close
    /// after the peer has gone still takes effect, because the receive thread may be delivering what the peer
    /// queued before it went, and a dispose must not wait for an application that no longer reads.
    /// </summary>
    private void Close(Exception reason, bool peerGone)
    {
        var next = new Ending(reason, peerGone);
        Ending? previous;
        while (true)
        {
            previous = _ending;
            if (previous is not null && (peerGone || !previous.PeerGone))
            {
                return;
            }

            if (ReferenceEquals(Interlocked.CompareExchange(ref _ending, next, previous), previous))
            {
                break;
            }
        }

        Output.Reader.CancelPendingRead();

        // A receive thread waiting for the application to make room must stop waiting too.
        Input.Writer.CancelPendingFlush();
        WakeReceiver();
        if (previous is null)
        {
            // A peer that went after its end-of-stream message ended cleanly; one that went before it was lost.
            _ = SignalClosed(reason.Message, peerLost: peerGone && Volatile.Read(ref _endOfStreamReceived) == 0);
        }
    }

    private void PeerGone(Exception reason) => Close(reason, peerGone: true);

    private ConnectionResetException PeerGoneError(string how) => new($"The peer at {_address} {how}.");

    private unsafe void WakeReceiver()
    {
        lock (_portLock)
        {
            if (_portsReleased)
            {
                return;
            }

            byte* message = stackalloc byte[MachMessageCodec.HeaderSize];
            _ = MachMessageCodec.EncodeWakeUp(new Span<byte>(message, MachMessageCodec.HeaderSize), _receivePort);

            // A full queue needs no wake-up: the thread is about to receive anyway, and the poll timeout covers the rest.
            if (MachPorts.Send(message, MachAbi.MACH_MSG_TIMEOUT_NONE) != MachAbi.MACH_MSG_SUCCESS)
            {
                MachPorts.DestroyReturned(message);
            }
        }
    }

    private void LoopEnded()
    {
        if (Interlocked.Decrement(ref _loopsRunning) == 0)
        {
            ReleasePorts();
        }
    }

    /// <summary>
    /// Gives back the port pair once both loops have stopped: the send right first (a dead-name notification still
    /// queued for it carries a second reference, which the drain returns), then the receive right.
    /// </summary>
    private void ReleasePorts()
    {
        lock (_portLock)
        {
            if (_portsReleased || Volatile.Read(ref _loopsRunning) != 0)
            {
                return;
            }

            _portsReleased = true;
        }

        MachPorts.ReleaseSendRight(_sendPort);
        MachPorts.DrainAndDestroyReceiveRight(_receivePort, _sendPort);
    }

    private void EndOfStreamSeen(ref int flag)
    {
        Interlocked.Exchange(ref flag, 1);
        if (Volatile.Read(ref _endOfStreamReceived) == 1 && Volatile.Read(ref _endOfStreamSent) == 1)
        {
            _ = SignalClosed("both directions ended");
        }
    }

    /// <summary>Why the connection ended, and whether the peer ended it (then queued messages are still delivered).</summary>
    private sealed class Ending(Exception reason, bool peerGone)
    {
        public Exception Reason { get; } = reason;

        public bool PeerGone { get; } = peerGone;
    }

    /// <summary>Native memory for messages, freed by the loop that owns it.</summary>
    private static unsafe byte* AllocateBuffer(int size, int alignment = 16) => (byte*)NativeMemory.AlignedAlloc((nuint)size, (nuint)alignment);

    private static unsafe void FreeBuffer(byte* buffer) => NativeMemory.AlignedFree(buffer);
}
