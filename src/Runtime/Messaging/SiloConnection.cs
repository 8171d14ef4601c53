using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One authenticated connection between two silos, in either direction: requests both ways, responses matched by
/// correlation id. It reads and demultiplexes frames and closes once; writing (<see cref="FrameWriter"/>), the
/// calls it waits for (<see cref="OutgoingCalls"/>) and the requests it runs (<see cref="IncomingCalls"/>) are
/// their own types. Framing damage closes this connection (and fails its calls in flight, at once); a body that
/// does not decode fails that one call.
/// </summary>
internal sealed class SiloConnection : IAsyncDisposable
{
    private readonly ConnectionContext _connection;
    private readonly ConnectionSettings _settings;
    private readonly FrameWriter _writer;
    private readonly OutgoingCalls _outgoing;
    private readonly IncomingCalls _incoming;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _closeReason;
    private long _lastPong;
    private int _disposed;
    private Task _reading = Task.CompletedTask;

    internal SiloConnection(ConnectionContext connection, ConnectionSettings settings, string remoteSiloId, string? remoteHelper)
    {
        _connection = connection;
        _settings = settings;
        RemoteSiloId = remoteSiloId;
        RemoteHelper = remoteHelper;
        PeerName = remoteHelper is null ? $"silo {remoteSiloId}" : $"helper '{remoteHelper}' (silo {remoteSiloId})";
        _writer = new FrameWriter(connection.Transport.Output, settings, () => PeerName, Close, count => _incoming!.SlotsWritten(count));
        _outgoing = new OutgoingCalls(() => PeerName);
        _incoming = new IncomingCalls(settings, _writer, () => PeerName);
    }

    /// <summary>The peer silo's id, proven by its hello.</summary>
    internal string RemoteSiloId { get; }

    /// <summary>True when this process dialled the connection.</summary>
    internal bool IsOutbound { get; init; }

    /// <summary>The peer's helper name when it is a helper (for error messages).</summary>
    internal string? RemoteHelper { get; }

    internal string PeerName { get; }

    /// <summary>False once the connection is closing or closed; routing then looks again.</summary>
    internal bool IsUsable => Volatile.Read(ref _closeReason) is null;

    /// <summary>Completes when the connection has closed.</summary>
    internal Task Closed => _closed.Task;

    /// <summary>Starts reading frames (once the connection is known to whoever tracks it, so an early close is seen).</summary>
    internal void Start() => _reading = ReadLoopAsync();

    /// <summary>
    /// Sends a request and waits for its response (not for one-way calls, which return null once sent). The
    /// deadline runs from here: time spent queued behind a slow peer counts against it.
    /// </summary>
    internal async Task<PooledBuffer?> CallAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var correlation = _outgoing.NextCorrelation();
        var oneWay = (flags & CallFlags.OneWay) != 0;
        var requestFlags = (RequestFlags)(byte)flags | (cancellationToken.CanBeCanceled ? RequestFlags.Cancellable : 0);
        var header = new RequestHeader(correlation, requestFlags, (uint)Math.Min(timeout.TotalMilliseconds, IncomingCalls.MaxTimeoutMs), target.Info.Name, target.Key, method.Id, chain, Activity.Current?.Id);
        var pending = oneWay ? null : _outgoing.Add(correlation, target, method, chain);
        if (Volatile.Read(ref _closeReason) is { } closed)
        {
            _outgoing.Remove(correlation);
            throw Unavailable(target, method, closed);
        }

        Task sent;
        using (var encoded = PooledBuffer.Rent())
        {
            Protocol.EncodeRequest(encoded, header);
            sent = _writer.SendAsync(FrameKind.Request, encoded.WrittenMemory.Span, arguments.WrittenMemory.Span, bounded: true);
        }

        if (sent.IsFaulted)
        {
            _outgoing.Remove(correlation);
            var error = sent.Exception!.InnerException!;
            throw error is SandgrainLimitExceededException limit
                ? new SandgrainLimitExceededException($"{target.Info.Name}.{method.Name} on '{target.Key}': {limit.Message}")
                : Unavailable(target, method, error);
        }

        IncomingCalls.Observe(sent);
        if (pending is null)
        {
            return null;
        }

        try
        {
            return await pending.Task.WaitAsync(timeout, _settings.Time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _outgoing.Remove(correlation);
            SendControl(FrameKind.Cancel, correlation);
            throw new ActorCallTimeoutException($"{target.Info.Name}.{method.Name} on '{target.Key}' ({PeerName}) did not complete within {timeout.TotalSeconds:0.###} s{ChainText(chain)}.");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _outgoing.Remove(correlation);
            SendControl(FrameKind.Cancel, correlation);
            throw;
        }
    }

    /// <summary>Tells the peer this silo is shutting down: treat it as "launch again on the next call".</summary>
    internal async Task SayGoodbyeAsync(string reason)
    {
        using var encoded = PooledBuffer.Rent();
        Protocol.EncodeGoodbye(encoded, reason);
        try
        {
            await _writer.SendAsync(FrameKind.Goodbye, encoded.WrittenMemory.Span, default).ConfigureAwait(false);
        }
        catch (ActorUnavailableException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Close(new ActorUnavailableException($"The connection to {PeerName} was closed by this process."));
        _writer.Dispose();
        await _reading.ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>" (call chain: a → b)" for a timeout's message, or nothing.</summary>
    internal static string ChainText(string[] chain) => chain.Length == 0 ? "" : $" (call chain: {string.Join(" → ", chain)})";

    private ActorUnavailableException Unavailable(ActorReference target, ActorMethodInfo method, Exception reason) =>
        new($"{target.Info.Name}.{method.Name} on '{target.Key}' failed: {PeerName} is unavailable. {reason.Message}", reason);

    private async Task ReadLoopAsync()
    {
        var input = _connection.Transport.Input;
        Exception reason = new ActorUnavailableException($"The connection to {PeerName} ended.");
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (IsUsable && Protocol.TryReadFrame(ref buffer, _settings.MaxFrameSize, out var kind, out var payload))
                    {
                        HandleFrame(kind, payload);
                        while (IsUsable && (_incoming.BytesInFlight > _settings.MaxQueuedBytes || _writer.QueuedBytes > _settings.MaxQueuedBytes))
                        {
                            // The peer sends faster than its requests are answered, or does not read the answers:
                            // read no more of its requests until there is room.
                            await _incoming.WaitForRoomAsync().ConfigureAwait(false);
                            await _writer.WaitForSpaceAsync().ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
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

        Close(reason);
        await input.CompleteAsync().ConfigureAwait(false);
    }

    private void HandleFrame(FrameKind kind, ReadOnlySequence<byte> payload)
    {
        switch (kind)
        {
            case FrameKind.Request:
                var header = Protocol.DecodeRequest(payload, out var arguments);
                _incoming.Receive(header, arguments);
                break;

            case FrameKind.Response:
                var correlation = Protocol.DecodeId(payload, out var result);
                _outgoing.Complete(correlation, PooledBuffer.CopyOf(result));
                break;

            case FrameKind.Error:
                var error = Protocol.DecodeError(payload);
                _outgoing.Fail(error.Correlation, pending => RemoteErrors.ToException(error.Kind, error.Type, error.Message, error.Stack, pending.Describe(), pending.Cycle));
                break;

            case FrameKind.Cancel:
                _incoming.Cancel(Protocol.DecodeId(payload, out _));
                break;

            case FrameKind.Ping:
                var id = Protocol.DecodeId(payload, out _);
                var now = _settings.Time.GetTimestamp();
                var last = Volatile.Read(ref _lastPong);
                if (last == 0 || _settings.Time.GetElapsedTime(last, now) >= ConnectionSettings.PingInterval)
                {
                    Volatile.Write(ref _lastPong, now);
                    SendControl(FrameKind.Pong, id);
                }

                break;

            case FrameKind.Pong:
                break;

            case FrameKind.Goodbye:
                RuntimeLog.Goodbye(_settings.Logger, PeerName);
                Close(new ActorUnavailableException($"{PeerName} is shutting down (it said goodbye); the next call starts or finds it again."));
                break;

            default:
                throw new ProtocolViolationException($"a {kind} frame after the handshake");
        }
    }

    private void SendControl(FrameKind kind, ulong id)
    {
        using var encoded = PooledBuffer.Rent(16);
        Protocol.EncodeId(encoded, id);
        IncomingCalls.Observe(_writer.SendAsync(kind, encoded.WrittenMemory.Span, default));
    }

    /// <summary>Closes once: every call in flight fails at once, naming the peer, the actor and the method.</summary>
    private void Close(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
        {
            return;
        }

        _writer.Close(reason);
        _outgoing.FailAll(reason);
        _incoming.CancelAll();
        _connection.Abort(new ConnectionAbortedException(reason.Message));
        _closed.TrySetResult();
    }
}
