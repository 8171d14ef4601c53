using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// Writes a connection's frames. A sender that finds nobody writing becomes the writer: it writes its frame and
/// flushes on its own thread (no hand-off on an idle connection). A sender that finds a flush in progress queues a
/// copy, which the writer sends with its next flush, so under load many frames share one flush. The hand-off is
/// decided under one lock, so no frame is ever stranded in the queue.
/// </summary>
/// <remarks>
/// What a slow or stopped peer can cost is bounded twice: the queue holds at most
/// <see cref="ConnectionSettings.MaxQueuedBytes"/> of requests (a request over it fails at once), and a flush that
/// makes no progress for <see cref="ConnectionSettings.SendStallTimeout"/> closes the connection.
/// </remarks>
internal sealed class FrameWriter : IDisposable
{
    private readonly PipeWriter _output;
    private readonly ConnectionSettings _settings;
    private readonly Func<string> _peerName;
    private readonly Action<Exception> _onFailure;
    private readonly Action<int> _slotsWritten;
    private readonly Lock _lock = new();
    private readonly Queue<OutgoingFrame> _queue = new();
    private readonly ITimer _watchdog;
    private long _queuedBytes;
    private bool _writing;
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
        var size = Protocol.FramePrefixSize + header.Length + body.Length;
        lock (_lock)
        {
            if (_failure is { } failed)
            {
                return Task.FromException(failed);
            }

            if (_writing)
            {
                if (bounded && _queuedBytes > 0 && _queuedBytes + size > _settings.MaxQueuedBytes)
                {
                    return Task.FromException(new SandgrainLimitExceededException(
                        $"{size} more bytes to {_peerName()} would make {_queuedBytes + size} bytes queued on its connection, over the limit of {_settings.MaxQueuedBytes} (Sandgrain:MaxQueuedBytesPerConnection); the peer is not reading as fast as this process sends."));
                }

                _queue.Enqueue(OutgoingFrame.Copy(kind, header, body, holdsSlot));
                _queuedBytes += size;
                return Task.CompletedTask;
            }

            _writing = true;
        }

        try
        {
            Protocol.WriteFrame(_output, kind, header, body);
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            return Task.FromException(Fail(e));
        }

        return FlushLoopAsync(holdsSlot ? 1 : 0);
    }

    /// <summary>Completes when the queue is within its limit again (or the connection failed): the read loop's back-pressure.</summary>
    internal Task WaitForSpaceAsync()
    {
        lock (_lock)
        {
            if (_queuedBytes <= _settings.MaxQueuedBytes || _failure is not null)
            {
                return Task.CompletedTask;
            }

            _space ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _space.Task;
        }
    }

    /// <summary>Fails every later send with <paramref name="reason"/> and drops what is queued.</summary>
    internal void Close(Exception reason)
    {
        OutgoingFrame[] dropped;
        TaskCompletionSource? space;
        lock (_lock)
        {
            _failure ??= reason;
            (dropped, space) = TakeQueue();
        }

        space?.TrySetResult();
        foreach (var frame in dropped)
        {
            frame.Dispose();
        }
    }

    public void Dispose() => _watchdog.Dispose();

    private async Task FlushLoopAsync(int slots)
    {
        try
        {
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

                OutgoingFrame[] batch;
                TaskCompletionSource? space;
                lock (_lock)
                {
                    if (_queue.Count == 0)
                    {
                        _writing = false;
                        return;
                    }

                    (batch, space) = TakeQueue();
                }

                space?.TrySetResult();
                foreach (var frame in batch)
                {
                    using (frame)
                    {
                        Protocol.WriteFrame(_output, frame.Kind, frame.Bytes.WrittenMemory.Span, default);
                        slots += frame.HoldsSlot ? 1 : 0;
                    }
                }
            }
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            throw Fail(e);
        }
    }

    /// <summary>Empties the queue (under the lock): its frames, and whoever waits for room, to be told outside it.</summary>
    private (OutgoingFrame[] Frames, TaskCompletionSource? Space) TakeQueue()
    {
        OutgoingFrame[] frames = [.. _queue];
        _queue.Clear();
        _queuedBytes = 0;
        var space = _space;
        _space = null;
        return (frames, space);
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

    /// <summary>A frame queued behind a flush in progress, with its own copy of the bytes.</summary>
    private sealed class OutgoingFrame : IDisposable
    {
        private OutgoingFrame(FrameKind kind, PooledBuffer bytes, bool holdsSlot)
        {
            Kind = kind;
            Bytes = bytes;
            HoldsSlot = holdsSlot;
        }

        internal FrameKind Kind { get; }

        internal PooledBuffer Bytes { get; }

        internal bool HoldsSlot { get; }

        internal static OutgoingFrame Copy(FrameKind kind, ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, bool holdsSlot)
        {
            var bytes = PooledBuffer.Rent(header.Length + body.Length);
            header.CopyTo(bytes.GetSpan(header.Length));
            bytes.Advance(header.Length);
            if (!body.IsEmpty)
            {
                body.CopyTo(bytes.GetSpan(body.Length));
                bytes.Advance(body.Length);
            }

            return new OutgoingFrame(kind, bytes, holdsSlot);
        }

        public void Dispose() => Bytes.Dispose();
    }
}
