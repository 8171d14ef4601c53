using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One connection between two silos, in either direction: requests both ways, responses matched by
/// correlation id. Framing damage closes this connection (and fails its calls in flight, at once); a body
/// that does not decode fails that one call.
/// </summary>
internal sealed class SiloConnection : IAsyncDisposable
{
    private readonly ConnectionContext _connection;
    private readonly ActorRuntime _runtime;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<OutgoingFrame> _outgoing = new();
    private int _writing;
    private readonly ConcurrentDictionary<ulong, PendingCall> _pending = new();
    private readonly ConcurrentDictionary<ulong, CancellationTokenSource> _running = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _maxFrameSize;
    private readonly int _maxInFlight;
    private int _inFlight;
    private long _nextCorrelation;
    private Exception? _closeReason;
    private Task _reading = Task.CompletedTask;

    private SiloConnection(ConnectionContext connection, ActorRuntime runtime, string remoteSiloId, string? remoteHelper, ILogger logger)
    {
        _connection = connection;
        _runtime = runtime;
        _logger = logger;
        _maxFrameSize = runtime.Options.MaxFrameSize;
        _maxInFlight = runtime.Options.MaxInFlightRequestsPerConnection;
        RemoteSiloId = remoteSiloId;
        RemoteHelper = remoteHelper;
    }

    /// <summary>The peer silo's id, proven by its hello.</summary>
    internal string RemoteSiloId { get; }

    /// <summary>The peer's helper name when it is a helper (for error messages).</summary>
    internal string? RemoteHelper { get; }

    /// <summary>False once the connection is closing or closed; routing then looks again.</summary>
    internal bool IsUsable => Volatile.Read(ref _closeReason) is null;

    /// <summary>Completes when the connection has closed.</summary>
    internal Task Closed => _closed.Task;

    private string PeerName => RemoteHelper is null ? $"silo {RemoteSiloId}" : $"helper '{RemoteHelper}' (silo {RemoteSiloId})";

    /// <summary>Exchanges hellos and starts reading. An outbound connection checks the peer is the silo it meant to reach.</summary>
    internal static async Task<SiloConnection> EstablishAsync(ConnectionContext connection, ActorRuntime runtime, string? expectedSiloId, string? remoteHelper, ILogger logger, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(runtime.Options.HandshakeTimeout);
        try
        {
            var nonce = Security.GroupSecret.NewNonce();
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Hello, Protocol.EncodeHello(runtime.SiloId, nonce), default);
            try
            {
                await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
            {
                // A listener at its limit refuses before reading our hello and may close first: its reason is
                // still in our input, and says more than the failed write.
                throw await ReadRefusalAsync(connection) ?? new ProtocolViolationException($"the connection closed during the handshake: {e.Message}", e);
            }
            var (remote, peerNonce) = Protocol.DecodeHello(await ReadHandshakeFrameAsync(connection, FrameKind.Hello, timeout.Token).ConfigureAwait(false));
            if (expectedSiloId is not null && remote != expectedSiloId)
            {
                throw new ProtocolViolationException($"the peer identified itself as silo {remote}, but the registry record it was reached through belongs to silo {expectedSiloId}");
            }

            // Both sides prove they know the group secret before either accepts a request.
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Proof, runtime.Secret.Proof(peerNonce, runtime.SiloId), default);
            await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            var proof = await ReadHandshakeFrameAsync(connection, FrameKind.Proof, timeout.Token).ConfigureAwait(false);
            if (proof.Length != 32 || !runtime.Secret.Verify(proof.ToArray(), nonce, remote))
            {
                throw new ProtocolViolationException($"a proof of app-group membership that does not check out (silo {remote} does not know this group's secret)");
            }

            var silo = new SiloConnection(connection, runtime, remote, remoteHelper, logger);

            // Known to the runtime before the first frame is read, so a peer that closes at once is also forgotten at once.
            runtime.OnConnectionOpened(silo);
            silo._reading = silo.ReadLoopAsync();
            return silo;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new ProtocolViolationException($"no hello within {runtime.Options.HandshakeTimeout.TotalSeconds:0.#} s (Sandgrain:HandshakeTimeout)");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends a request and waits for its response (not for one-way calls, which return null at once).</summary>
    internal async Task<PooledBuffer?> CallAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var correlation = (ulong)Interlocked.Increment(ref _nextCorrelation);
        var oneWay = (flags & CallFlags.OneWay) != 0;
        var requestFlags = (RequestFlags)(byte)flags | (cancellationToken.CanBeCanceled ? RequestFlags.Cancellable : 0);
        var header = new RequestHeader(correlation, requestFlags, (uint)Math.Min(timeout.TotalMilliseconds, uint.MaxValue), target.Info.Name, target.Key, method.Id, chain, Activity.Current?.Id);
        PendingCall? pending = null;
        if (!oneWay)
        {
            pending = new PendingCall(target, method, chain, this);
            _pending[correlation] = pending;
            if (Volatile.Read(ref _closeReason) is { } closed)
            {
                _pending.TryRemove(correlation, out _);
                throw pending.Unavailable(closed);
            }
        }

        using (var encoded = PooledBuffer.Rent())
        {
            Protocol.EncodeRequest(encoded, header);
            await SendAsync(FrameKind.Request, encoded.WrittenMemory, arguments.WrittenMemory, pending).ConfigureAwait(false);
        }

        if (pending is null)
        {
            return null;
        }

        try
        {
            return await pending.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _pending.TryRemove(correlation, out _);
            _ = SendControlAsync(FrameKind.Cancel, correlation);
            throw new ActorCallTimeoutException($"{target.Info.Name}.{method.Name} on '{target.Key}' ({PeerName}) did not complete within {timeout.TotalSeconds:0.###} s{ChainText(chain)}.");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _pending.TryRemove(correlation, out _);
            _ = SendControlAsync(FrameKind.Cancel, correlation);
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
            await SendAsync(FrameKind.Goodbye, encoded.WrittenMemory, default, null).ConfigureAwait(false);
        }
        catch (ActorUnavailableException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close(new ActorUnavailableException($"The connection to {PeerName} was closed by this process."));
        _connection.Abort();
        await _reading.ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    internal static string ChainText(string[] chain) => chain.Length == 0 ? "" : $" (call chain: {string.Join(" → ", chain)})";

    /// <summary>The refusal a peer sent before closing, if it is in the input within a moment; otherwise null.</summary>
    private static async Task<ProtocolViolationException?> ReadRefusalAsync(ConnectionContext connection)
    {
        using var moment = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        try
        {
            await ReadHandshakeFrameAsync(connection, FrameKind.Hello, moment.Token).ConfigureAwait(false);
            return null;
        }
        catch (ProtocolViolationException refusal) when (refusal.Message.StartsWith("a refusal: ", StringComparison.Ordinal))
        {
            return refusal;
        }
        catch (Exception e) when (e is ProtocolViolationException or OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Reads one handshake frame of the expected kind (bounded in size).</summary>
    private static async Task<ReadOnlySequence<byte>> ReadHandshakeFrameAsync(ConnectionContext connection, FrameKind expected, CancellationToken cancellationToken)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (Protocol.TryReadFrame(ref buffer, Protocol.MaxHelloPayload, out var kind, out var payload))
            {
                if (kind == FrameKind.Goodbye)
                {
                    throw new ProtocolViolationException("a refusal: " + Protocol.DecodeGoodbye(payload));
                }

                if (kind != expected)
                {
                    throw new ProtocolViolationException($"a {kind} frame where a {expected} frame belongs in the handshake");
                }

                var copy = new ReadOnlySequence<byte>(payload.ToArray());
                input.AdvanceTo(buffer.Start);
                return copy;
            }

            if (result.IsCompleted)
            {
                throw new ProtocolViolationException($"the peer closed the connection before its {expected}");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

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
                    while (Protocol.TryReadFrame(ref buffer, _maxFrameSize, out var kind, out var payload))
                    {
                        HandleFrame(kind, payload);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (ProtocolViolationException e)
        {
            RuntimeLog.ProtocolViolation(_logger, PeerName, e.Message);
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
            {
                var header = Protocol.DecodeRequest(payload, out var arguments);
                if (Interlocked.Increment(ref _inFlight) > _maxInFlight)
                {
                    Interlocked.Decrement(ref _inFlight);
                    _ = RefuseAsync(header, $"{PeerName} already has {_maxInFlight} requests running in silo {_runtime.SiloId}; request {_maxInFlight + 1} is over the limit of {_maxInFlight} (Sandgrain:MaxInFlightRequestsPerConnection).");
                    break;
                }

                _ = DispatchAsync(header, PooledBuffer.CopyOf(arguments));
                break;
            }

            case FrameKind.Response:
            {
                var correlation = Protocol.DecodeId(payload, out var result);
                if (_pending.TryRemove(correlation, out var pending))
                {
                    pending.TrySetResult(PooledBuffer.CopyOf(result));
                }

                break;
            }

            case FrameKind.Error:
            {
                var error = Protocol.DecodeError(payload);
                if (_pending.TryRemove(error.Correlation, out var pending))
                {
                    pending.TrySetException(RemoteErrors.ToException(error.Kind, error.Type, error.Message, error.Stack, pending.Describe(), pending.Cycle));
                }

                break;
            }

            case FrameKind.Cancel:
            {
                var correlation = Protocol.DecodeId(payload, out _);
                if (_running.TryGetValue(correlation, out var running))
                {
                    try
                    {
                        running.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The call finished meanwhile.
                    }
                }

                break;
            }

            case FrameKind.Ping:
                _ = SendControlAsync(FrameKind.Pong, Protocol.DecodeId(payload, out _));
                break;

            case FrameKind.Pong:
                break;

            case FrameKind.Goodbye:
                RuntimeLog.Goodbye(_logger, PeerName);
                Close(new ActorUnavailableException($"{PeerName} is shutting down (it said goodbye); the next call starts or finds it again."));
                break;

            default:
                throw new ProtocolViolationException($"a {kind} frame after the handshake");
        }
    }

    private async Task DispatchAsync(RequestHeader header, PooledBuffer arguments)
    {
        var oneWay = (header.Flags & RequestFlags.OneWay) != 0;
        var started = Stopwatch.GetTimestamp();
        using var activity = header.TraceParent is null
            ? SandgrainTelemetry.Source.StartActivity(header.Interface, ActivityKind.Server)
            : SandgrainTelemetry.Source.StartActivity(header.Interface, ActivityKind.Server, header.TraceParent);
        Exception? failure = null;
        using var cancellation = new CancellationTokenSource();
        if (header.TimeoutMs > 0)
        {
            cancellation.CancelAfter(TimeSpan.FromMilliseconds(header.TimeoutMs));
        }

        if ((header.Flags & RequestFlags.Cancellable) != 0)
        {
            _running[header.CorrelationId] = cancellation;
        }

        PooledBuffer? result = null;
        try
        {
            result = await _runtime.InvokeIncomingAsync(header, arguments.WrittenMemory, cancellation.Token).ConfigureAwait(false);
            if (!oneWay)
            {
                using var encoded = PooledBuffer.Rent();
                Protocol.EncodeId(encoded, header.CorrelationId);
                await SendAsync(FrameKind.Response, encoded.WrittenMemory, result.WrittenMemory, null).ConfigureAwait(false);
            }
        }
        catch (ActorUnavailableException) when (result is not null)
        {
            // The call ran, but the caller is gone; nobody waits for the answer.
        }
        catch (Exception e)
        {
            failure = e;
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            if (oneWay)
            {
                RuntimeLog.OneWayFailed(_logger, header.Interface, header.Key, e);
            }
            else
            {
                var (kind, type, message) = RemoteErrors.Describe(e);
                using var encoded = PooledBuffer.Rent();
                Protocol.EncodeError(encoded, header.CorrelationId, kind, type, message, e.StackTrace);
                try
                {
                    await SendAsync(FrameKind.Error, encoded.WrittenMemory, default, null).ConfigureAwait(false);
                }
                catch (ActorUnavailableException)
                {
                    // The caller is gone.
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            result?.Dispose();
            _running.TryRemove(header.CorrelationId, out _);
            arguments.Dispose();
            SandgrainTelemetry.CallCompleted(header.Interface, SandgrainTelemetry.Outcome(failure), "incoming", started);
        }
    }

    /// <summary>Answers a request that is over a limit with an error (a one-way one is dropped), without running it.</summary>
    private async Task RefuseAsync(RequestHeader header, string reason)
    {
        RuntimeLog.RequestRefused(_logger, PeerName, reason);
        if ((header.Flags & RequestFlags.OneWay) != 0)
        {
            return;
        }

        using var encoded = PooledBuffer.Rent();
        Protocol.EncodeError(encoded, header.CorrelationId, ErrorKind.LimitExceeded, typeof(SandgrainLimitExceededException).FullName!, reason, null);
        try
        {
            await SendAsync(FrameKind.Error, encoded.WrittenMemory, default, null).ConfigureAwait(false);
        }
        catch (ActorUnavailableException)
        {
            // The caller is gone.
        }
    }

    /// <summary>Turns a new connection away with its reason (a goodbye in place of a hello), then closes it.</summary>
    internal static async Task RefuseAsync(ConnectionContext connection, string reason)
    {
        try
        {
            using var encoded = PooledBuffer.Rent();
            Protocol.EncodeGoodbye(encoded, reason);
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Goodbye, encoded.WrittenMemory.Span, default);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await connection.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            // A peer that does not read its refusal is closed all the same.
        }
        finally
        {
            // Closed, not aborted: the refusal stays readable for the peer after the connection ends.
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task SendControlAsync(FrameKind kind, ulong id)
    {
        using var encoded = PooledBuffer.Rent();
        Protocol.EncodeId(encoded, id);
        try
        {
            await SendAsync(kind, encoded.WrittenMemory, default, null).ConfigureAwait(false);
        }
        catch (ActorUnavailableException)
        {
            // Nothing to tell a peer that is gone.
        }
    }

    /// <summary>
    /// Sends one frame. A sender that finds nobody writing writes and flushes on its own thread (no hand-off);
    /// one that finds a write in progress queues a copy, which the writer sends with its next flush — so under
    /// load many frames share one flush, and an idle connection pays no thread wake-up. Frames a caller sends
    /// one after another leave in that order.
    /// </summary>
    private Task SendAsync(FrameKind kind, ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> body, PendingCall? pending)
    {
        if (Volatile.Read(ref _closeReason) is { } closed && kind != FrameKind.Goodbye)
        {
            return Task.FromException(pending?.Unavailable(closed) ?? new ActorUnavailableException(closed.Message, closed));
        }

        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            return WriteAndFlushAsync(kind, header, body, pending);
        }

        _outgoing.Enqueue(OutgoingFrame.Copy(kind, header.Span, body.Span));

        // The writer may have finished between our check and the enqueue; then this sender writes.
        return Interlocked.CompareExchange(ref _writing, 1, 0) == 0
            ? WriteAndFlushAsync(default, default, default, pending)
            : Task.CompletedTask;
    }

    private async Task WriteAndFlushAsync(FrameKind kind, ReadOnlyMemory<byte> header, ReadOnlyMemory<byte> body, PendingCall? pending)
    {
        var output = _connection.Transport.Output;
        try
        {
            while (true)
            {
                while (_outgoing.TryDequeue(out var queued))
                {
                    using (queued)
                    {
                        Protocol.WriteFrame(output, queued.Kind, queued.Bytes.WrittenMemory.Span, default);
                    }
                }

                if (kind != default)
                {
                    Protocol.WriteFrame(output, kind, header.Span, body.Span);
                    kind = default;
                }

                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    throw new ActorUnavailableException($"The connection to {PeerName} is closed.");
                }

                Volatile.Write(ref _writing, 0);
                if (_outgoing.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException or ObjectDisposedException or ActorUnavailableException)
        {
            var unavailable = e as ActorUnavailableException ?? new ActorUnavailableException($"The connection to {PeerName} was lost: {e.Message}", e);
            Close(unavailable);
            Volatile.Write(ref _writing, 0);
            while (_outgoing.TryDequeue(out var dropped))
            {
                dropped.Dispose();
            }

            throw pending?.Unavailable(unavailable) ?? unavailable;
        }
    }

    /// <summary>Closes once: every call in flight fails at once, naming the peer, the actor and the method.</summary>
    private void Close(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
        {
            return;
        }

        foreach (var correlation in _pending.Keys)
        {
            if (_pending.TryRemove(correlation, out var pending))
            {
                pending.TrySetException(pending.Unavailable(reason));
            }
        }

        foreach (var running in _running.Values)
        {
            try
            {
                running.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Finished meanwhile.
            }
        }

        _connection.Abort(new ConnectionAbortedException(reason.Message));
        _runtime.OnConnectionClosed(this);
        _closed.TrySetResult();
    }

    /// <summary>A frame queued behind a write in progress, with its own copy of the bytes.</summary>
    private sealed class OutgoingFrame : IDisposable
    {
        private OutgoingFrame(FrameKind kind, PooledBuffer bytes)
        {
            Kind = kind;
            Bytes = bytes;
        }

        internal FrameKind Kind { get; }

        internal PooledBuffer Bytes { get; }

        internal static OutgoingFrame Copy(FrameKind kind, ReadOnlySpan<byte> header, ReadOnlySpan<byte> body)
        {
            var bytes = PooledBuffer.Rent(header.Length + body.Length);
            header.CopyTo(bytes.GetSpan(header.Length));
            bytes.Advance(header.Length);
            if (!body.IsEmpty)
            {
                body.CopyTo(bytes.GetSpan(body.Length));
                bytes.Advance(body.Length);
            }

            return new OutgoingFrame(kind, bytes);
        }

        public void Dispose() => Bytes.Dispose();
    }

    private sealed class PendingCall(ActorReference target, ActorMethodInfo method, string[] chain, SiloConnection connection)
        : TaskCompletionSource<PooledBuffer?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        internal IReadOnlyList<string> Cycle => [.. chain, target.ActorId];

        internal string Describe() => $"{target.Info.Name}.{method.Name} on '{target.Key}'";

        internal ActorUnavailableException Unavailable(Exception reason) =>
            new($"{Describe()} failed: {connection.PeerName} is unavailable. {reason.Message}", reason);
    }
}
