using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The requests a connection has received and runs: the in-flight limit, the cancellation table, and the
/// response or error each one sends back. A request holds its in-flight slot until its answer is written.
/// </summary>
internal sealed class IncomingCalls(ConnectionSettings settings, FrameWriter writer, Func<string> peerName)
{
    private readonly ConcurrentDictionary<ulong, CancellationTokenSource> _running = new();
    private readonly Lock _roomLock = new();
    private int _inFlight;
    private long _bytesInFlight;
    private TaskCompletionSource? _room;

    /// <summary>The longest deadline a request may carry, in milliseconds.</summary>
    internal static readonly uint MaxTimeoutMs = (uint)ActorCall.MaxTimeout.TotalMilliseconds;

    /// <summary>Takes a request from the read loop: refused when over a limit, otherwise run.</summary>
    internal void Receive(RequestHeader header, in ReadOnlySequence<byte> arguments)
    {
        if (header.TimeoutMs > MaxTimeoutMs)
        {
            Refuse(header, ErrorKind.LimitExceeded, $"{peerName()} sent a request with a deadline of {header.TimeoutMs} ms, over the limit of {MaxTimeoutMs} ms (ActorCall.MaxTimeout).");
            return;
        }

        if (Interlocked.Increment(ref _inFlight) > settings.MaxInFlightRequests)
        {
            Interlocked.Decrement(ref _inFlight);
            Refuse(header, ErrorKind.LimitExceeded, $"{peerName()} already has {settings.MaxInFlightRequests} requests running in silo {settings.LocalSiloId}; request {settings.MaxInFlightRequests + 1} is over the limit of {settings.MaxInFlightRequests} (Sandgrain:MaxInFlightRequestsPerConnection).");
            return;
        }

        Interlocked.Add(ref _bytesInFlight, arguments.Length);
        _ = DispatchAsync(header, PooledBuffer.CopyOf(arguments));
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
        if (_running.TryGetValue(correlation, out var running))
        {
            TryCancel(running);
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

        foreach (var running in _running.Values)
        {
            TryCancel(running);
        }
    }

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
        using var cancellation = header.TimeoutMs > 0 ? new CancellationTokenSource(TimeSpan.FromMilliseconds(header.TimeoutMs), settings.Time) : new CancellationTokenSource();
        if ((header.Flags & RequestFlags.Cancellable) != 0)
        {
            _running[header.CorrelationId] = cancellation;
        }

        PooledBuffer? result = null;
        try
        {
            result = await settings.Handler.InvokeAsync(header, arguments, cancellation.Token).ConfigureAwait(false);
            if (!oneWay)
            {
                using var encoded = PooledBuffer.Rent(16);
                Protocol.EncodeId(encoded, header.CorrelationId);
                slotHandedOver = Handed(writer.SendAsync(FrameKind.Response, encoded.WrittenMemory.Span, result.WrittenMemory.Span, holdsSlot: true));
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

            result?.Dispose();
            Answered(size);
            _running.TryRemove(header.CorrelationId, out _);
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
