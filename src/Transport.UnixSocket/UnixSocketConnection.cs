using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// One connected Unix stream socket exposed as a duplex pipe: a receive loop fills the input pipe, a send
/// loop drains the output pipe. Both pipes are bounded, so a slow reader on either side stops the other.
/// </summary>
/// <remarks>
/// End of stream: the application completing <see cref="ConnectionContext.Transport"/>'s output half-closes
/// the socket (the peer reads to its end and may still write). When the peer's whole socket is gone —
/// closed, or its process killed, which the kernel cannot tell apart — the input delivers what arrived and ends,
/// further flushes report the output completed, and <see cref="BaseConnectionContext.ConnectionClosed"/> fires; a
/// reset (the peer closed with our bytes unread) is reported as a loss in <see cref="IConnectionEndFeature"/>.
/// <see cref="PipeConnection.DisposeAsync"/> sends what is queued and half-closes before it closes (a Unix socket has
/// no reset: a disposal that gave up after the close timeout also ends with a clean end of stream, and logs it);
/// <see cref="ConnectionContext.Abort(ConnectionAbortedException)"/> closes at once and discards it.
/// </remarks>
internal sealed class UnixSocketConnection : PipeConnection
{

    // Ask the pipe for at least this much room per recv(), so bulk transfers take few system calls.
    private const int ReceiveChunk = 32 * 1024;

    private const int EPIPE = 32;

    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly string _address;
    private volatile Exception? _shutdownReason;

    // Descriptors the peer passed (SCM_RIGHTS) and the application has not taken yet, at most _allowedDescriptors.
    private readonly Queue<SafeFileHandle> _descriptors = new();
    private readonly int _allowedDescriptors;
    private readonly long _spinTicks;

    // 1 while the send loop has bytes the socket has not taken yet: no reply can come before they are out, so the
    // receive thread does not poll meanwhile (it would take a CPU from the thread that sends, as a bulk call showed).
    private int _sendInProgress;

    // The receive thread's scratch for what one receive brought (only the receive thread touches it).
    private List<SafeFileHandle>? _arrived;

    internal UnixSocketConnection(Socket socket, PeerIdentity peer, string address, EndPoint? local, EndPoint? remote, UnixSocketTransportOptions options, ILogger logger)
        : base("unix", peer, local, remote, options.MaxReadBufferSize, options.MaxWriteBufferSize, inlineReads: true, options.CloseTimeout)
    {
        _socket = socket;
        _logger = logger;
        _address = address;
        _allowedDescriptors = OperatingSystem.IsLinux() ? options.AcceptedDescriptors : 0;
        // Not on one CPU (a machine, or an affinity mask as `taskset -c 0` sets): the peer could answer only once this
        // thread stops polling, and a socket does not say where the peer runs (shared memory does, and spins on).
        _spinTicks = Environment.ProcessorCount > 1 ? (long)(options.SpinDuration.TotalSeconds * Stopwatch.Frequency) : 0;
        Peer = peer;
    }

    /// <summary>
    /// Takes the oldest descriptor the peer passed with its bytes (Linux; see
    /// <see cref="UnixSocketTransportOptions.AcceptedDescriptors"/>): one that came with bytes already read from the
    /// input is here. Null when there is none; the caller owns what it takes.
    /// </summary>
    internal SafeFileHandle? TakeDescriptor()
    {
        lock (_descriptors)
        {
            return _descriptors.TryDequeue(out var handle) ? handle : null;
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> with <paramref name="descriptor"/> attached, straight on the socket (Linux). Only
    /// before anything has been written to the output: the bytes would otherwise overtake what is queued there.
    /// </summary>
    internal void SendWithDescriptor(ReadOnlySpan<byte> data, SafeHandle descriptor) => DescriptorPassing.Send(_socket, data, descriptor);

    internal PeerIdentity Peer { get; }

    // A thread of its own blocks in recv(): one wake-up per message, as a C reader has, instead of
    // the event loop's wake-up plus a thread-pool wake-up. Local IPC has few connections, so the
    // thread per connection is cheap; the socket stays in blocking mode for it, and sends use
    // MSG_DONTWAIT per call.
    protected override string ReceiveThreadName => "sandgrain-unix-recv";

    protected override void Stop(Exception reason) => Shutdown(reason);

    protected override void OnClosed(string reason) => UnixSocketLog.ConnectionEnded(_logger, ConnectionId, _address, reason);

    protected override void OnDrainAbandoned(TimeSpan closeTimeout) => UnixSocketLog.DrainAbandoned(_logger, ConnectionId, _address, closeTimeout.TotalMilliseconds);

    private void Shutdown(Exception reason)
    {
        // The reason may already be set (the peer went first: PeerGone); the socket and the loops are stopped here
        // all the same, once, or a receive thread waiting for an application that never reads would wait forever.
        Interlocked.CompareExchange(ref _shutdownReason, reason, null);
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }

        _socket.Dispose();
        Output.Reader.CancelPendingRead();

        // A receive thread waiting for the application to make room must stop waiting too.
        Input.Writer.CancelPendingFlush();
        _ = SignalClosed(reason.Message);
    }

    protected override void ReceiveLoop(int generation)
    {
        Exception? error = null;
        var writer = Input.Writer;
        var replaced = false;
        var endOfStream = false;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(ReceiveChunk);
                var received = _allowedDescriptors == 0 ? Receive(memory.Span) : ReceiveWithDescriptors(memory.Span);
                if (received == 0)
                {
                    endOfStream = true;
                    break;
                }

                writer.Advance(received);

                // Waiting here is the back-pressure: this thread exists only to receive.
                if (!FlushInput(generation, out var result))
                {
                    replaced = true;
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            if (_shutdownReason is null && PeerHungUp())
            {
                // The peer's socket is closed entirely (not half-closed): nothing we send can arrive.
                PeerGone(PeerClosed(), lost: false);
                endOfStream = false;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            if (_shutdownReason is ConnectionAbortedException aborted)
            {
                error = aborted;
            }
            else
            {
                // The kernel delivers every byte the peer sent before the reset; the input ends after them, cleanly.
                PeerGone(new ConnectionResetException($"The connection at {_address} was reset by the peer (it closed without reading what was sent to it, or was killed): {e.Message}", e), lost: true);
            }
        }
        finally
        {
            if (!replaced)
            {
                if (error is null && _shutdownReason is ConnectionAbortedException abortedByUs)
                {
                    // Shutdown(Both) ends a blocking recv() with 0 bytes; the reader must still see the abort.
                    error = abortedByUs;
                }

                writer.Complete(error);
                ReceiveEnded();
            }
        }

        if (endOfStream && !SendHasEnded)
        {
            // The peer half-closed: its stream has ended, but it may still read. This thread, which would end here,
            // stays to notice the whole socket's close (a disposal half-closes first, then closes), so that
            // ConnectionClosed fires without waiting for a send to fail. Once our stream has ended too, both have.
            WaitForHangUp();
            if (_shutdownReason is null && !SendHasEnded)
            {
                PeerGone(PeerClosed(), lost: false);
            }
        }
    }

    /// <summary>
    /// One receive: polled without blocking for up to <see cref="UnixSocketTransportOptions.SpinDuration"/> when no
    /// other thread of this process spins, then a blocking <c>recv()</c>, which also reports every error.
    /// </summary>
    private int Receive(Span<byte> buffer)
    {
        if (_spinTicks > 0 && Volatile.Read(ref _sendInProgress) == 0 && SpinPolicy.TryBegin())
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                var spins = 0;
                do
                {
                    var received = TryReceiveNow(buffer);
                    if (received >= 0)
                    {
                        return received;
                    }

                    SpinPolicy.SpinOnce(ref spins, 0, 0);
                }
                while (Stopwatch.GetTimestamp() - started < _spinTicks);
            }
            finally
            {
                SpinPolicy.End();
            }
        }

        return _socket.Receive(buffer, SocketFlags.None);
    }

    /// <summary>A recv() that does not wait: the bytes taken (0 at the end of the stream), or -1 when none are there yet.</summary>
    /// <exception cref="SocketException">The socket failed (a reset, most often), reported here: Linux hands a socket's error to the first receive that meets it and clears it, so a receive after this one would see only the end of the stream.</exception>
    private unsafe int TryReceiveNow(Span<byte> buffer)
    {
        var handle = _socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            nint received;
            fixed (byte* p = buffer)
            {
                received = LibC.Recv((int)handle.DangerousGetHandle(), p, (nuint)buffer.Length, LibC.ReceiveNonBlockingFlags);
            }

            if (received >= 0)
            {
                return (int)received;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EAGAIN || errno == LibC.EINTR)
            {
                return -1;
            }

            throw new SocketException((int)SocketError.ConnectionReset, $"recv() failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        catch (ObjectDisposedException)
        {
            // Closed by our own shutdown: the blocking receive that follows reports it as such.
            return -1;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private int ReceiveWithDescriptors(Span<byte> buffer)
    {
        var arrived = _arrived ??= [];
        arrived.Clear();
        var received = DescriptorPassing.Receive(_socket, buffer, arrived, out var truncated);
        var refused = truncated;
        lock (_descriptors)
        {
            // Queued before the bytes they came with reach the input: whoever reads those bytes finds them here.
            foreach (var handle in arrived)
            {
                if (!refused && _descriptors.Count < _allowedDescriptors)
                {
                    _descriptors.Enqueue(handle);
                }
                else
                {
                    handle.Dispose();
                    refused = true;
                }
            }
        }

        if (refused)
        {
            throw new SocketException((int)SocketError.ProtocolNotSupported, $"The peer at {_address} passed more descriptors than this connection accepts ({_allowedDescriptors}); they were closed, and so is the connection.");
        }

        return received;
    }

    protected override ValueTask ReleaseResourcesAsync()
    {
        lock (_descriptors)
        {
            while (_descriptors.TryDequeue(out var untaken))
            {
                untaken.Dispose();
            }
        }

        return base.ReleaseResourcesAsync();
    }

    private ConnectionResetException PeerClosed() => new($"The peer at {_address} closed the connection.");

    /// <summary>
    /// Returns once the peer's socket is closed entirely, our stream has ended too, or ours is shut down. Linux reports a
    /// hang-up to a poll() that asks for nothing else at once; macOS's poll() registers no event for that alone, so
    /// there it looks again every <c>RecheckMs</c>, holding nothing (a descriptor held here would make the socket's
    /// disposal spin until it is let go).
    /// </summary>
    private unsafe void WaitForHangUp()
    {
        const int RecheckMs = 100;
        while (_shutdownReason is null && !SendHasEnded && !PeerHungUp())
        {
            if (OperatingSystem.IsMacOS())
            {
                _ = LibC.Poll(null, 0, RecheckMs);
                continue;
            }

            var handle = _socket.SafeHandle;
            var added = false;
            try
            {
                // Held, so the descriptor cannot be closed and reused while poll() waits on it; our own shutdown wakes it.
                handle.DangerousAddRef(ref added);
                var fd = new LibC.PollFd { Fd = (int)handle.DangerousGetHandle(), Events = 0 };
                _ = LibC.Poll(&fd, 1, RecheckMs);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }
    }

    protected override async Task SendLoopAsync()
    {
        var reader = Output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await SendAsync(buffer).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    // The application finished writing: half-close, the peer reads to its end and may go on writing.
                    _socket.Shutdown(SocketShutdown.Send);
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            if (_shutdownReason is null)
            {
                // EPIPE: the peer closed its socket (or exited: the kernel does not say which); a reset is a loss.
                PeerGone(
                    new ConnectionResetException($"Sending on {_address} failed; the peer is gone: {e.Message}", e),
                    lost: e is SocketException { SocketErrorCode: SocketError.ConnectionReset });
            }
        }
        finally
        {
            // Completed without an error: the application's flushes report the end instead of throwing (see IConnectionEndFeature).
            reader.Complete();
            SendEnded();
        }
    }

    private async ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        Volatile.Write(ref _sendInProgress, 1);
        try
        {
            await SendAllAsync(buffer).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _sendInProgress, 0);
        }
    }

    private async ValueTask SendAllAsync(ReadOnlySequence<byte> buffer)
    {
        foreach (var segment in buffer)
        {
            var offset = 0;
            while (offset < segment.Length)
            {
                var sent = TrySend(segment.Span[offset..], LibC.SendNonBlockingFlags);
                if (sent > 0)
                {
                    ReportSendProgress();
                }
                else if (sent < 0)
                {
                    // The kernel buffer is full (the peer reads slowly): finish this segment with a blocking
                    // send on a pool thread, so the writer waits without holding the caller's thread.
                    var rest = segment[offset..];
                    await Task.Run(() => SendBlocking(rest)).ConfigureAwait(false);
                    break;
                }

                offset += sent;
            }
        }
    }

    /// <summary>
    /// Sends the rest once the socket has room, as much at a time as the kernel takes (not in small pieces: a blocking
    /// send of a few KiB at a time cost a bulk call one system call per piece), reporting progress after each send so
    /// that a draining disposal sees a slow reader making it.
    /// </summary>
    private void SendBlocking(ReadOnlyMemory<byte> memory)
    {
        while (!memory.IsEmpty)
        {
            var sent = TrySend(memory.Span, LibC.SendNonBlockingFlags);
            if (sent > 0)
            {
                memory = memory[sent..];
                ReportSendProgress();
            }
            else
            {
                WaitUntilWritable();
            }
        }
    }

    /// <summary>
    /// Waits until the socket can take more (or is shut down, which the next send reports), at most
    /// <c>RecheckMs</c> at a time: the descriptor is held only while poll() waits, so a disposal never waits long for it.
    /// </summary>
    private unsafe void WaitUntilWritable()
    {
        const int RecheckMs = 100;
        var handle = _socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = new LibC.PollFd { Fd = (int)handle.DangerousGetHandle(), Events = LibC.POLLOUT };
            _ = LibC.Poll(&fd, 1, RecheckMs);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>One send(2); the number of bytes taken, or -1 when a non-blocking send would block.</summary>
    private unsafe int TrySend(ReadOnlySpan<byte> data, int flags)
    {
        var handle = _socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            while (true)
            {
                nint sent;
                fixed (byte* p = data)
                {
                    sent = LibC.Send((int)handle.DangerousGetHandle(), p, (nuint)data.Length, flags);
                }

                if (sent >= 0)
                {
                    return (int)sent;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EINTR)
                {
                    continue;
                }

                if (errno == LibC.EAGAIN)
                {
                    return -1;
                }

                var error = errno == EPIPE ? SocketError.Shutdown : SocketError.ConnectionReset;
                throw new SocketException((int)error, $"send() failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private int _stopped;

    private void PeerGone(Exception reason, bool lost)
    {
        if (Interlocked.CompareExchange(ref _shutdownReason, reason, null) is null)
        {
            _ = SignalClosed(reason.Message, lost);
            Output.Reader.CancelPendingRead();
        }
    }

    private unsafe bool PeerHungUp()
    {
        try
        {
            // Linux reports POLLHUP once both directions are shut. macOS (poll over kqueue) reports it on the read side
            // as soon as the peer half-closes, so there the write side is asked: it hangs up when the peer's socket is gone.
            var fd = new LibC.PollFd { Fd = (int)_socket.Handle, Events = OperatingSystem.IsMacOS() ? LibC.POLLOUT : LibC.POLLIN };
            return LibC.Poll(&fd, 1, 0) == 1 && (fd.Revents & LibC.POLLHUP) != 0;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }
}
