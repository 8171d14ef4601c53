using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// Writes a connection's frames. A sender that finds nobody writing becomes the writer: it writes its frame and
/// flushes on its own thread (no hand-off on an idle connection). A sender that finds a flush in progress queues a
/// copy, which the writer sends with its next flush, so under load many frames share one flush.
/// </summary>
/// <remarks>
/// <para>
/// The hand-off is two atomic read-modify-write operations, each a full fence: a sender enqueues and then tries to
/// take the writer's flag; the writer clears the flag with an exchange and then looks at the queue. Whatever the
/// interleaving, either the writer sees the frame (and takes the flag back to send it) or the sender's attempt comes
/// after the clear (and the sender becomes the writer), so no frame is left in the queue. (The first design cleared
/// the flag with a plain release store, which x86 may reorder after the load that follows: a stranded frame.)
/// </para>
/// <para>
/// What a slow or stopped peer can cost is bounded twice: the queue holds at most
/// <see cref="ConnectionSettings.MaxQueuedBytes"/> of requests (a request over it fails at once), and a flush that
/// makes no progress for <see cref="ConnectionSettings.SendStallTimeout"/> closes the connection.
/// </para>
/// </remarks>
internal sealed class FrameWriter : IDisposable
{
    private readonly PipeWriter _output;
    private readonly ConnectionSettings _settings;
    private readonly Func<string> _peerName;
    private readonly Action<Exception> _onFailure;
    private readonly Action<int> _slotsWritten;
    private readonly ConcurrentQueue<OutgoingFrame> _queue = new();
    private readonly Lock _spaceLock = new();
    private readonly ITimer _watchdog;
    private long _queuedBytes;
    private int _writing;
    private Exception? _failure;
    private long _flushStarted;
    private TaskCompletionSource? _space;

    /// <param name="output">The connection's output.</param>
    /// <param name="settings">Limits and clock.</param>
    /// <param name="peerName">Names the peer in errors.</param>
    /// <param name="onFailure">Closes the connection when a write fails or stalls.</param>
    /// <param name="slotsWritten">Told how many frames that hold an in-flight slot have been flushed.</param>
    internal FrameWriter(PipeWriter output, ConnectionSettings settings, Func<string> peerName, Action<Exception> onFailure, Action<int> slotsWritten)
    {
        _output = output;
        _settings = settings;
        _peerName = peerName;
        _onFailure = onFailure;
        _slotsWritten = slotsWritten;
        var period = TimeSpan.FromMilliseconds(Math.Clamp(settings.SendStallTimeout.TotalMilliseconds / 4, 10, 1_000));
        _watchdog = settings.Time.CreateTimer(static s => ((FrameWriter)s!).CheckStall(), this, period, period);
    }

    /// <summary>
    /// Runs where the writer has found the queue empty and is about to let go: a test sends from here to pin the
    /// one interleaving that could strand a frame. Null outside tests.
    /// </summary>
    internal Action? ReleasingForTests { get; set; }

    /// <summary>Bytes queued behind the flush in progress.</summary>
    internal long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>
    /// Sends one frame. The task completes when the frame is flushed (this sender wrote it) or queued (another
    /// writer will); it fails with <see cref="SandgrainLimitExceededException"/> when <paramref name="bounded"/> and
    /// the queue is full, or with the connection's failure once it has failed. Frames one sender sends one after
    /// another leave in that order.
    /// </summary>
    internal Task SendAsync(FrameKind kind, ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, bool bounded = false, bool holdsSlot = false)
    {
        if (Volatile.Read(ref _failure) is { } failed)
        {
            return Task.FromException(failed);
        }

        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            int slots;
            try
            {
                // Frames queued before this one go first (a writer that let go may not have sent them yet).
                slots = WriteQueued() + (holdsSlot ? 1 : 0);
                Protocol.WriteFrame(_output, kind, header, body);
            }
            catch (Exception e) when (IsWriteFailure(e))
            {
                return Task.FromException(Fail(e));
            }

            return FlushLoopAsync(slots);
        }

        var size = Protocol.FramePrefixSize + header.Length + body.Length;
        var queued = Volatile.Read(ref _queuedBytes);
        if (bounded && queued > 0 && queued + size > _settings.MaxQueuedBytes)
        {
            return Task.FromException(new SandgrainLimitExceededException(
                $"{size} more bytes to {_peerName()} would make {queued + size} bytes queued on its connection, over the limit of {_settings.MaxQueuedBytes} (Sandgrain:MaxQueuedBytesPerConnection); the peer is not reading as fast as this process sends."));
        }

        Interlocked.Add(ref _queuedBytes, size);
        _queue.Enqueue(OutgoingFrame.Copy(kind, header, body, holdsSlot));
        if (Volatile.Read(ref _failure) is { } failedMeanwhile)
        {
            DropQueued();
            return Task.FromException(failedMeanwhile);
        }

        // The writer may have finished between our first attempt and the enqueue: then this sender writes.
        return Interlocked.CompareExchange(ref _writing, 1, 0) == 0 ? FlushLoopAsync(0, drainFirst: true) : Task.CompletedTask;
    }

    /// <summary>Completes when the queue is within its limit again (or the connection failed): the read loop's back-pressure.</summary>
    internal Task WaitForSpaceAsync()
    {
        lock (_spaceLock)
        {
            if (QueuedBytes <= _settings.MaxQueuedBytes || Volatile.Read(ref _failure) is not null)
            {
                return Task.CompletedTask;
            }

            var space = _space ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            // The writer looks for a waiter without the lock: look at the queue again after the store, with a
            // full fence between, so that room made just now is never missed.
            Interlocked.MemoryBarrier();
            if (QueuedBytes <= _settings.MaxQueuedBytes || Volatile.Read(ref _failure) is not null)
            {
                _space = null;
                space.TrySetResult();
            }

            return space.Task;
        }
    }

    /// <summary>Fails every later send with <paramref name="reason"/> and drops what is queued.</summary>
    internal void Close(Exception reason)
    {
        Interlocked.CompareExchange(ref _failure, reason, null);
        DropQueued();
    }

    public void Dispose() => _watchdog.Dispose();

    private async Task FlushLoopAsync(int slots, bool drainFirst = false)
    {
        try
        {
            if (drainFirst)
            {
                slots += WriteQueued();
            }

            while (true)
            {
                var pending = _output.FlushAsync();
                FlushResult result;
                if (pending.IsCompleted)
                {
                    result = pending.Result;
                }
                else
                {
                    Volatile.Write(ref _flushStarted, _settings.Time.GetTimestamp());
                    result = await pending.ConfigureAwait(false);
                    Volatile.Write(ref _flushStarted, 0);
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    throw Volatile.Read(ref _failure) ?? new ActorUnavailableException($"The connection to {_peerName()} is closed.");
                }

                if (slots > 0)
                {
                    _slotsWritten(slots);
                    slots = 0;
                }

                if (_queue.IsEmpty)
                {
                    ReleasingForTests?.Invoke();

                    // Full fence, then the look at the queue: see the type's remarks.
                    Interlocked.Exchange(ref _writing, 0);
                    if (_queue.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                    {
                        return;
                    }
                }

                slots += WriteQueued();
            }
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            throw Fail(e);
        }
    }

    /// <summary>Writes what is queued (without flushing); returns how many of the frames held in-flight slots.</summary>
    private int WriteQueued()
    {
        var slots = 0;
        long written = 0;
        while (_queue.TryDequeue(out var frame))
        {
            using (frame)
            {
                Protocol.WriteFrame(_output, frame.Kind, frame.Bytes.WrittenMemory.Span, default);
                slots += frame.HoldsSlot ? 1 : 0;
                written += Protocol.FramePrefixSize + frame.Bytes.WrittenCount;
            }
        }

        if (written > 0 && Interlocked.Add(ref _queuedBytes, -written) <= _settings.MaxQueuedBytes && Volatile.Read(ref _space) is not null)
        {
            ReleaseSpaceWaiter();
        }

        return slots;
    }

    /// <summary>Drops (and frees) what is queued, once the connection has failed; whoever waits for room stops waiting.</summary>
    private void DropQueued()
    {
        while (_queue.TryDequeue(out var frame))
        {
            Interlocked.Add(ref _queuedBytes, -(Protocol.FramePrefixSize + frame.Bytes.WrittenCount));
            frame.Dispose();
        }

        ReleaseSpaceWaiter();
    }

    private void ReleaseSpaceWaiter()
    {
        TaskCompletionSource? space;
        lock (_spaceLock)
        {
            space = _space;
            _space = null;
        }

        space?.TrySetResult();
    }

    private Exception Fail(Exception e)
    {
        var reason = e as ActorUnavailableException ?? new ActorUnavailableException($"The connection to {_peerName()} was lost: {e.Message}", e);
        Close(reason);
        _onFailure(reason);
        return Volatile.Read(ref _failure) ?? reason;
    }

    private void CheckStall()
    {
        var started = Volatile.Read(ref _flushStarted);
        if (started == 0 || _settings.Time.GetElapsedTime(started) < _settings.SendStallTimeout)
        {
            return;
        }

        var reason = new ActorUnavailableException(
            $"The connection to {_peerName()} was closed: the peer read nothing of what this process sent for {_settings.SendStallTimeout.TotalSeconds:0.###} s (Sandgrain:SendStallTimeout); it is stopped, hung or not reading.");
        RuntimeLog.SendStalled(_settings.Logger, _peerName(), reason.Message);
        Close(reason);
        _onFailure(reason);
        _output.CancelPendingFlush();
    }

    private static bool IsWriteFailure(Exception e) =>
        e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException or ObjectDisposedException or ActorUnavailableException or OperationCanceledException;
}
