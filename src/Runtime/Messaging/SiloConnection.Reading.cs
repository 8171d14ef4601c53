using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Messaging;

internal sealed partial class SiloConnection
{
    // The delivery running on the read loop's thread now (a sequence number), 0 when none; whoever swaps it to 0
    // owns the reading: the loop when the delivery returns, or the watch when it has held the thread too long.
    private long _delivering;
    private long _deliveries;

    // The watch's own view (only its tick touches these): the delivery it saw last and since when.
    private long _watchedDelivery;
    private long _watchedSince;

    private readonly DecodedNames _names = new();

    private async Task ReadLoopAsync()
    {
        var input = _connection.Transport.Input;
        Exception? reason = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var delivery = default(Delivery);
                try
                {
                    while (IsUsable && Protocol.TryReadFrame(ref buffer, _settings.MaxFrameSize, out var kind, out var payload))
                    {
                        if (Take(kind, payload, out delivery))
                        {
                            break;
                        }
                    }
                }
                finally
                {
                    // Stopped at a frame to deliver: what follows it is still unread (examined only up to here).
                    if (delivery.Kind != 0)
                    {
                        input.AdvanceTo(buffer.Start);
                    }
                    else
                    {
                        input.AdvanceTo(buffer.Start, buffer.End);
                    }
                }

                if (delivery.Kind != 0)
                {
                    if (!Deliver(delivery))
                    {
                        // Taken over while this thread ran the delivery: another loop owns the input now.
                        return;
                    }

                    while (IsUsable && (_incoming.BytesInFlight > _settings.MaxQueuedBytes || _writer.QueuedBytes > _settings.MaxQueuedBytes))
                    {
                        // The peer sends faster than its requests are answered, or does not read the answers:
                        // read no more of its requests until there is room.
                        await _incoming.WaitForRoomAsync().ConfigureAwait(false);
                        await _writer.WaitForSpaceAsync().ConfigureAwait(false);
                    }

                    continue;
                }

                if (result.IsCompleted || !IsUsable)
                {
                    break;
                }
            }
        }
        catch (ProtocolViolationException e)
        {
            RuntimeLog.ProtocolViolation(_settings.Logger, PeerName, e.Message);
            reason = new ActorUnavailableException($"The connection to {PeerName} was closed because the peer sent {e.Message}.", e);
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException or OperationCanceledException)
        {
            reason = new ActorUnavailableException($"The connection to {PeerName} was lost: {e.Message}", e);
        }

        Close(reason ?? EndedCleanly());
        await input.CompleteAsync().ConfigureAwait(false);
        _readingEnded.TrySetResult();
    }

    /// <summary>Why the input ended without an error: the transport says whether the peer finished or was lost, and how.</summary>
    private ActorUnavailableException EndedCleanly() =>
        _connection.Features.Get<IConnectionEndFeature>() is { EndReason: { } how } end
            ? new(end.PeerLost ? $"The connection to {PeerName} was lost: {how}" : $"The connection to {PeerName} ended: {how}")
            : new($"The connection to {PeerName} ended.");

    /// <summary>
    /// Takes one frame out of the input: control frames are handled here; a frame whose handling runs other code
    /// (a response, an error, a request, a cancel) is decoded and copied into <paramref name="delivery"/> — true —
    /// to be run once the input has been advanced past it.
    /// </summary>
    private bool Take(FrameKind kind, ReadOnlySequence<byte> payload, out Delivery delivery)
    {
        delivery = default;
        switch (kind)
        {
            case FrameKind.Request:
                var header = Protocol.DecodeRequest(payload, out var arguments, _names);
                if (!_incoming.TryAdmit(header, arguments.Length))
                {
                    return false;
                }

                delivery = new Delivery(kind, header.CorrelationId, header, PooledBuffer.CopyOf(arguments), null);
                return true;

            case FrameKind.Response:
                var correlation = Protocol.DecodeId(payload, out var result);
                delivery = new Delivery(kind, correlation, default, PooledBuffer.CopyOf(result), null);
                return true;

            case FrameKind.Error:
                var error = Protocol.DecodeError(payload);
                delivery = new Delivery(kind, error.Correlation, default, null, error);
                return true;

            case FrameKind.Cancel:
                delivery = new Delivery(kind, Protocol.DecodeId(payload, out _), default, null, null);
                return true;

            case FrameKind.Ping:
                var id = Protocol.DecodeId(payload, out _);
                var now = _settings.Time.GetTimestamp();
                var last = Volatile.Read(ref _lastPong);
                if (last == 0 || _settings.Time.GetElapsedTime(last, now) >= ConnectionSettings.PingInterval)
                {
                    Volatile.Write(ref _lastPong, now);
                    SendControl(FrameKind.Pong, id);
                }

                return false;

            case FrameKind.Pong:
                return false;

            case FrameKind.Goodbye:
                RuntimeLog.Goodbye(_settings.Logger, PeerName);
                Close(new ActorUnavailableException($"{PeerName} is shutting down (it said goodbye); the next call starts or finds it again."));
                return false;

            default:
                throw new ProtocolViolationException($"a {kind} frame after the handshake");
        }
    }

    /// <summary>Runs one delivery on this thread; false when the watch took the reading over meanwhile.</summary>
    private bool Deliver(in Delivery delivery)
    {
        var mine = Interlocked.Increment(ref _deliveries);
        Interlocked.Exchange(ref _delivering, mine);
        _watch.Arm();
        try
        {
            switch (delivery.Kind)
            {
                case FrameKind.Request:
                    _incoming.Dispatch(delivery.Header, delivery.Body!);
                    break;

                case FrameKind.Response:
                    _outgoing.Complete(delivery.Correlation, delivery.Body!);
                    break;

                case FrameKind.Error:
                    FailPending(delivery.Error!.Value);
                    break;

                case FrameKind.Cancel:
                    _incoming.Cancel(delivery.Correlation);
                    break;
            }
        }
        finally
        {
            mine = Interlocked.CompareExchange(ref _delivering, 0, mine) == mine ? mine : 0;
        }

        return mine != 0;
    }

    // Its own method: a lambda's captured local declared in a case of Deliver's switch would make every delivery
    // allocate the closure, since the compiler creates it where the switch's block is entered.
    private void FailPending((ulong Correlation, ErrorKind Kind, string Type, string Message, string? Stack) error) =>
        _outgoing.Fail(error.Correlation, pending => RemoteErrors.ToException(error.Kind, error.Type, error.Message, error.Stack, pending.Describe(), pending.Cycle));

    /// <summary>
    /// A delivery has held the read loop's thread past the threshold: the reading goes on elsewhere — a new receive
    /// thread where the transport reads inline, and a new read loop — and the held thread, once let go, returns.
    /// </summary>
    private void TakeOverIfStalled()
    {
        var delivering = Volatile.Read(ref _delivering);
        if (delivering == 0)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        if (delivering != _watchedDelivery)
        {
            _watchedDelivery = delivering;
            _watchedSince = now;
            return;
        }

        if (Stopwatch.GetElapsedTime(_watchedSince, now) < _settings.ReceiveStallThreshold
            || Interlocked.CompareExchange(ref _delivering, 0, delivering) != delivering)
        {
            return;
        }

        // The new loop first: once the marker is swapped, the held loop will not read again, whatever fails below.
        // It starts on a thread of its own, not the pool's, which the same blocking code may have starved; after its
        // first wait it goes on where the transport resumes it (the new receive thread, when it reads inline).
        try
        {
            new Thread(static s => ((SiloConnection)s!).StartReadLoop()) { IsBackground = true, Name = "sandgrain-read" }.UnsafeStart(this);
        }
        catch (Exception e) when (e is OutOfMemoryException or ThreadStartException)
        {
            // No thread to be had: the pool, late rather than never (the held loop will not read again).
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.StartReadLoop(), this, preferLocal: false);
        }
        _connection.Features.Get<IReceiveThreadFeature>()?.TryReplaceStalledReceiver();
        RuntimeLog.ReceiveStalled(_settings.Logger, PeerName, _settings.ReceiveStallThreshold.TotalMilliseconds);
    }

    private void StartReadLoop() => _ = ReadLoopAsync();

    /// <summary>A frame taken out of the input, to be run after it (see <see cref="Take"/>).</summary>
    private readonly record struct Delivery(
        FrameKind Kind,
        ulong Correlation,
        RequestHeader Header,
        PooledBuffer? Body,
        (ulong Correlation, ErrorKind Kind, string Type, string Message, string? Stack)? Error);
}
