using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One authenticated connection between two silos, in either direction: requests both ways, responses matched by
/// correlation id. It reads and demultiplexes frames and closes once; writing (<see cref="FrameWriter"/>), the
/// calls it waits for (<see cref="OutgoingCalls"/>) and the requests it runs (<see cref="IncomingCalls"/>) are
/// their own types. Framing damage closes this connection (and fails its calls in flight, at once); a body that
/// does not decode fails that one call.
/// </summary>
/// <remarks>
/// A frame's work — a caller's continuation, an idle activation's turn — runs on the thread that read the frame,
/// after the frame has been taken out of the input: no thread hop per call. Code that blocks there would stop the
/// connection, so <see cref="ConnectionWatch"/> looks at every delivery, and one that has held the thread longer
/// than <see cref="ConnectionSettings.ReceiveStallThreshold"/> is left to finish on that thread while a new read
/// loop (and, where the transport reads inline, a new receive thread) goes on with the connection.
/// </remarks>
internal sealed partial class SiloConnection : IAsyncDisposable
{
    private readonly ConnectionContext _connection;
    private readonly ConnectionSettings _settings;
    private readonly FrameWriter _writer;
    private readonly OutgoingCalls _outgoing;
    private readonly IncomingCalls _incoming;
    private readonly ConnectionWatch _watch;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _readingEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _closeReason;
    private long _lastPong;
    private int _disposed;
    private int _started;

    internal SiloConnection(ConnectionContext connection, ConnectionSettings settings, string remoteSiloId, string? remoteHelper)
    {
        _connection = connection;
        _settings = settings;
        RemoteSiloId = remoteSiloId;
        RemoteHelper = remoteHelper;
        PeerName = remoteHelper is null ? $"silo {remoteSiloId}" : $"helper '{remoteHelper}' (silo {remoteSiloId})";
        _writer = new FrameWriter(connection.Transport.Output, settings, () => PeerName, Close, count => _incoming!.SlotsWritten(count));
        _outgoing = new OutgoingCalls(() => PeerName, settings.Time);
        _incoming = new IncomingCalls(settings, _writer, () => PeerName);
        _watch = new ConnectionWatch(ConnectionWatch.PeriodFor(settings.ReceiveStallThreshold), Sweep, HasWork, e => RuntimeLog.WatchFailed(settings.Logger, PeerName, e));
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
    internal void Start()
    {
        Volatile.Write(ref _started, 1);

        // This loop can take its reading back from a thread held by blocking code (TakeOverIfStalled), so it may
        // run on the transport's receive thread.
        _connection.Features.Get<IReceiveThreadFeature>()?.ReadInline();
        _ = ReadLoopAsync();
    }

    /// <summary>
    /// Sends a request and returns its response to come (null at once for one-way calls, once sent). The deadline
    /// runs from here: time spent queued behind a slow peer counts against it. Copies <paramref name="arguments"/>
    /// before it returns.
    /// </summary>
    internal ValueTask<PooledBuffer?> CallAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var correlation = _outgoing.NextCorrelation();
        var oneWay = (flags & CallFlags.OneWay) != 0;
        var requestFlags = (RequestFlags)(byte)flags | (cancellationToken.CanBeCanceled ? RequestFlags.Cancellable : 0);
        var pending = oneWay ? null : _outgoing.Add(correlation, target, method, chain, timeout, this, cancellationToken);
        if (Volatile.Read(ref _closeReason) is { } closed)
        {
            Abandon(pending);
            throw Unavailable(target, method, closed);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // Cancelled while the call was being registered (its callback found nothing to cancel yet): never sent.
            Abandon(pending);
            throw new OperationCanceledException(cancellationToken);
        }

        var encoded = HeaderScratch.Take();
        Protocol.EncodeRequest(encoded, correlation, requestFlags, (uint)Math.Min(timeout.TotalMilliseconds, IncomingCalls.MaxTimeoutMs), target.Info.Name, target.Key, method.Id, chain, Activity.Current?.Id);
        var sent = _writer.SendAsync(FrameKind.Request, encoded.WrittenMemory.Span, arguments.WrittenMemory.Span, bounded: true);
        HeaderScratch.Give(encoded);

        if (sent.IsFaulted)
        {
            Abandon(pending);
            var error = sent.Exception!.InnerException!;
            throw error is SandgrainLimitExceededException limit
                ? new SandgrainLimitExceededException($"{target.Info.Name}.{method.Name} on '{target.Key}': {limit.Message}")
                : Unavailable(target, method, error);
        }

        IncomingCalls.Observe(sent);
        if (pending is null)
        {
            return new ValueTask<PooledBuffer?>((PooledBuffer?)null);
        }

        _watch.Arm();
        return pending.AsValueTask();
    }

    /// <summary>The caller's token was cancelled: the call fails with it, and the peer is told to stop.</summary>
    internal void CancelPending(PendingCall pending, CancellationToken token)
    {
        if (_outgoing.TryTake(pending))
        {
            SendControl(FrameKind.Cancel, pending.Correlation);
            pending.SetException(new OperationCanceledException(token), inline: false);
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
        if (Volatile.Read(ref _started) == 1)
        {
            // The loop that owns the reading now; one held by blocking code is taken over by the watch meanwhile.
            await _readingEnded.Task.ConfigureAwait(false);
        }

        _watch.Dispose();
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>" (call chain: a → b)" for a timeout's message, or nothing.</summary>
    internal static string ChainText(string[] chain) => chain.Length == 0 ? "" : $" (call chain: {string.Join(" → ", chain)})";

    private ActorUnavailableException Unavailable(ActorReference target, ActorMethodInfo method, Exception reason) =>
        new($"{target.Info.Name}.{method.Name} on '{target.Key}' failed: {PeerName} is unavailable. {reason.Message}", reason);

    /// <summary>A call that was never sent: out of the table, and nobody will wait for it.</summary>
    private void Abandon(PendingCall? pending)
    {
        if (pending is not null && _outgoing.TryTake(pending))
        {
            pending.Abandon();
        }
    }

    private void SendControl(FrameKind kind, ulong id)
    {
        var encoded = HeaderScratch.Take();
        Protocol.EncodeId(encoded, id);
        IncomingCalls.Observe(_writer.SendAsync(kind, encoded.WrittenMemory.Span, default));
        HeaderScratch.Give(encoded);
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

    // The delivery marker first: a request enters _incoming's count while the marker is set (Deliver dispatches it),
    // so a watch that read the count first and the marker after could miss a request dispatched between the two.
    private bool HasWork() => Volatile.Read(ref _delivering) != 0 || _outgoing.Any || _incoming.Any;

    /// <summary>The watch's tick: calls past their deadline fail (and the peer is told to stop), a held read loop is taken over.</summary>
    private void Sweep()
    {
        _outgoing.ExpireDue(pending =>
        {
            // The caller first, whatever the cancel's send does; the correlation is read before, since a completed
            // call's object goes back to the pool once its caller has its result.
            var correlation = pending.Correlation;
            pending.SetException(
                new ActorCallTimeoutException($"{pending.Describe()} ({PeerName}) did not complete within {pending.Timeout.TotalSeconds:0.###} s{ChainText(pending.Chain)}."),
                inline: false);
            SendControl(FrameKind.Cancel, correlation);
        });
        _incoming.ExpireDue();
        TakeOverIfStalled();
    }
}
