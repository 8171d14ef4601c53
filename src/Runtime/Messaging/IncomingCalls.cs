using System.Buffers;
using System.Diagnostics;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The requests a connection has received and runs: the in-flight limit, the cancellation table, and the
/// response or error each one sends back. A request holds its in-flight slot until its answer is written.
/// </summary>
internal sealed class IncomingCalls(ConnectionSettings settings, FrameWriter writer, Func<string> peerName)
{
    private readonly RunningRequests _running = new();
    private readonly Lock _roomLock = new();
    private int _inFlight;
    private long _bytesInFlight;
    private TaskCompletionSource? _room;

    /// <summary>The longest deadline a request may carry, in milliseconds.</summary>
    internal static readonly uint MaxTimeoutMs = (uint)ActorCall.MaxTimeout.TotalMilliseconds;

    /// <summary>
    /// Admits a request the read loop has taken (holding its in-flight slot and its bytes until it is answered), or
    /// refuses it — answered with an error, not run — when it is over a limit.
    /// </summary>
    internal bool TryAdmit(RequestHeader header, long argumentBytes)
    {
        if (header.TimeoutMs > MaxTimeoutMs)
        {
            Refuse(header, ErrorKind.LimitExceeded, $"{peerName()} sent a request with a deadline of {header.TimeoutMs} ms, over the limit of {MaxTimeoutMs} ms (ActorCall.MaxTimeout).");
            return false;
        }

        if (Interlocked.Increment(ref _inFlight) > settings.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _inFlight);
            Refuse(header, ErrorKind.LimitExceeded, $"{peerName()} already has {settings.MaxInFlightRequests} requests running in silo {settings.LocalSiloId}; request {settings.MaxInFlightRequests + 1} is over the limit of {settings.MaxInFlightRequests} (Sandgrain:MaxInFlightRequestsPerConnection).");
            return false;
        }

        Interlocked.Add(ref _bytesInFlight, argumentBytes);
        return true;
    }

    /// <summary>Runs an admitted request: on this thread up to its first wait when its activation is idle.</summary>
    internal void Dispatch(RequestHeader header, PooledBuffer arguments) => _ = DispatchAsync(header, arguments);

    /// <summary>True while requests run (for the connection's sweep of their deadlines).</summary>
    internal bool Any => _running.Any;

    /// <summary>Cancels the requests whose deadline has passed: their callers have stopped waiting.</summary>
    internal void ExpireDue()
    {
        // Queued once (see RunningRequests.TakeDue): the pool may be starved, and the watch goes on ticking meanwhile.
        if (_running.TakeDue(settings.Time.GetTimestamp()) is not { } due)
        {
            return;
        }

        foreach (var cancellation in due)
        {
            CancelOnPool(cancellation);
        }
    }

    /// <summary>Bytes of requests received and not yet answered.</summary>
    internal long BytesInFlight => Volatile.Read(ref _bytesInFlight);

    /// <summary>
    /// Completes when the requests being run hold no more than <see cref="ConnectionSettings.MaxQueuedBytes"/>: the read
    /// loop's back-pressure against a peer that sends faster than its requests are answered.
    /// </summary>
    internal Task WaitForRoomAsync()
    {
        lock (_roomLock)
        {
            if (BytesInFlight <= settings.MaxQueuedBytes)
            {
                return Task.CompletedTask;
            }

            var room = _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            // Answers look for a waiter without the lock (see Answered): look at the bytes again after the store,
            // with a full fence between, so that an answer that has just made room is never missed.
            Interlocked.MemoryBarrier();
            if (BytesInFlight <= settings.MaxQueuedBytes)
            {
                _room = null;
                room.TrySetResult();
            }

            return room.Task;
        }
    }

    private void Answered(long bytes)
    {
        // Nobody waits for room nearly always: then no lock (every answer passes here).
        if (Interlocked.Add(ref _bytesInFlight, -bytes) > settings.MaxQueuedBytes || Volatile.Read(ref _room) is null)
        {
            return;
        }

        TaskCompletionSource? room;
        lock (_roomLock)
        {
            room = _room;
            _room = null;
        }

        room?.TrySetResult();
    }

    /// <summary>Answers to requests that hold slots have been written.</summary>
    internal void SlotsWritten(int count) => Interlocked.Add(ref _inFlight, -count);

    internal void Cancel(ulong correlation)
    {
        if (_running.Find(correlation) is { } cancellation)
        {
            TryCancel(cancellation);
        }
    }

    /// <summary>The connection closed: everything it runs is cancelled (the answers have nowhere to go).</summary>
    internal void CancelAll()
    {
        lock (_roomLock)
        {
            // Whoever waits for room stops waiting: the connection is closing.
            _room?.TrySetResult();
            _room = null;
            Interlocked.Exchange(ref _bytesInFlight, long.MinValue / 2);
        }

        foreach (var cancellation in _running.All())
        {
            CancelOnPool(cancellation);
        }
    }

    /// <summary>
    /// Cancels off this thread: the sweep and the close run on the connection's timer and closing threads, and an
    /// actor's cancellation callback may block or throw there.
    /// </summary>
    private static void CancelOnPool(CancellationTokenSource source) =>
        ThreadPool.UnsafeQueueUserWorkItem(static s => TryCancel(s), source, preferLocal: false);

    private static void TryCancel(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The call finished meanwhile.
        }
        catch (AggregateException)
        {
            // An actor's own cancellation callback threw: that is the actor's affair, and the request ends as cancelled.
        }
    }

    private async Task DispatchAsync(RequestHeader header, PooledBuffer arguments)
    {
        var size = arguments.WrittenCount;
        var oneWay = (header.Flags & RequestFlags.OneWay) != 0;
        var started = Stopwatch.GetTimestamp();
        using var activity = header.TraceParent is null
            ? SandgrainTelemetry.Source.StartActivity(header.Interface, ActivityKind.Server)
            : SandgrainTelemetry.Source.StartActivity(header.Interface, ActivityKind.Server, header.TraceParent);
        Exception? failure = null;
        var slotHandedOver = false;
        // No timer per request: the connection's sweep cancels it once its deadline passes (ExpireDue).
        using var cancellation = new CancellationTokenSource();
        _running.Add(header.CorrelationId, cancellation, header.TimeoutMs > 0 ? settings.Time.GetTimestamp() + (long)(header.TimeoutMs / 1000.0 * settings.Time.TimestampFrequency) : long.MaxValue);

        PooledBuffer? result = null;
        try
        {
            result = await settings.Handler.InvokeAsync(header, arguments, cancellation.Token).ConfigureAwait(false);
            if (!oneWay)
            {
                var encoded = HeaderScratch.Take();
                Protocol.EncodeId(encoded, header.CorrelationId);
                slotHandedOver = Handed(writer.SendAsync(FrameKind.Response, encoded.WrittenMemory.Span, result.WrittenMemory.Span, holdsSlot: true));
                HeaderScratch.Give(encoded);
            }
        }
        catch (Exception e)
        {
            failure = e;
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            if (oneWay)
            {
                RuntimeLog.OneWayFailed(settings.Logger, header.Interface, header.Key, e);
            }
            else
            {
                var (kind, type, message) = RemoteErrors.Describe(e);
                using var encoded = PooledBuffer.Rent();
                Protocol.EncodeError(encoded, header.CorrelationId, kind, type, message, e.StackTrace);
                slotHandedOver = Handed(writer.SendAsync(FrameKind.Error, encoded.WrittenMemory.Span, default, holdsSlot: true));
            }
        }
        finally
        {
            if (!slotHandedOver)
            {
                Interlocked.Decrement(ref _inFlight);
            }

            // Written or copied by the writer: nothing refers to it any more.
            result?.Recycle();
            Answered(size);
            _running.Remove(header.CorrelationId, cancellation);
            SandgrainTelemetry.CallCompleted(header.Interface, SandgrainTelemetry.Outcome(failure), "incoming", started);
        }
    }

    /// <summary>Answers a request that is over a limit with an error (a one-way one is dropped), without running it.</summary>
    private void Refuse(RequestHeader header, ErrorKind kind, string reason)
    {
        RuntimeLog.RequestRefused(settings.Logger, peerName(), reason);
        if ((header.Flags & RequestFlags.OneWay) != 0)
        {
            return;
        }

        using var encoded = PooledBuffer.Rent();
        Protocol.EncodeError(encoded, header.CorrelationId, kind, typeof(SandgrainLimitExceededException).FullName!, reason, null);
        Observe(writer.SendAsync(FrameKind.Error, encoded.WrittenMemory.Span, default));
    }

    /// <summary>True when the writer took the frame (and with it the slot, released once written).</summary>
    private static bool Handed(Task send)
    {
        if (send.IsFaulted)
        {
            _ = send.Exception;
            return false;
        }

        Observe(send);
        return true;
    }

    /// <summary>A send's failure closes its connection, which is reported there; here it only must not go unobserved.</summary>
    internal static void Observe(Task send)
    {
        if (send.IsCompleted)
        {
            _ = send.Exception;
            return;
        }

        send.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }
}
