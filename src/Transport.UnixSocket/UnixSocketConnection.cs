using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.UnixSocket.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// One connected Unix stream socket exposed as a duplex pipe: a receive loop fills the input pipe, a send
/// loop drains the output pipe. Both pipes are bounded, so a slow reader on either side stops the other.
/// </summary>
/// <remarks>
/// End of stream: the application completing <see cref="ConnectionContext.Transport"/>'s output half-closes
/// the socket (the peer reads to its end and may still write). When the peer's whole socket is gone —
/// closed, or its process killed, which the kernel cannot tell apart — the input ends, further flushes throw
/// <see cref="ConnectionResetException"/> and <see cref="BaseConnectionContext.ConnectionClosed"/> fires. <see cref="DisposeAsync"/>
/// closes at once and discards what was not yet sent.
/// </remarks>
internal sealed class UnixSocketConnection : ConnectionContext
{
    private const int MinimumSegmentSize = 64 * 1024;
    private static long s_nextId;

    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly ILogger _logger;
    private readonly string _address;
    private readonly List<ArraySegment<byte>> _gather = [];
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private volatile Exception? _shutdownReason;
    private int _closedSignalled;
    private int _receiveDone;
    private int _sendDone;

    internal UnixSocketConnection(Socket socket, PeerIdentity peer, string address, EndPoint? local, EndPoint? remote, UnixSocketTransportOptions options, ILogger logger)
    {
        _socket = socket;
        _logger = logger;
        _address = address;
        LocalEndPoint = local;
        RemoteEndPoint = remote;
        ConnectionId = "unix-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Features.Set<IPeerIdentityFeature>(peer);
        Peer = peer;

        _input = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared,
            readerScheduler: PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: options.MaxReadBufferSize,
            resumeWriterThreshold: options.MaxReadBufferSize / 2,
            minimumSegmentSize: MinimumSegmentSize,
            useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: options.MaxWriteBufferSize,
            resumeWriterThreshold: options.MaxWriteBufferSize / 2,
            minimumSegmentSize: MinimumSegmentSize,
            useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException("ConnectionClosed is owned by the transport.");
    }

    internal PeerIdentity Peer { get; }

    internal void Start()
    {
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
    }

    public override async ValueTask DisposeAsync()
    {
        Shutdown(new ConnectionAbortedException("The connection was disposed."));
        await _receiving.ConfigureAwait(false);
        await _sending.ConfigureAwait(false);
        _input.Reader.Complete();
        _output.Writer.Complete();
        _closed.Dispose();
    }

    private void Shutdown(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _shutdownReason, reason, null) is not null)
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
        _output.Reader.CancelPendingRead();
        SignalClosed(reason.Message);
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(MinimumSegmentSize / 2);
                var received = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    break;
                }

                writer.Advance(received);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }

            if (_shutdownReason is null && PeerHungUp())
            {
                // The peer's socket is closed entirely (not half-closed): nothing we send can arrive.
                PeerGone(new ConnectionResetException($"The peer at {_address} closed the connection."));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            error = _shutdownReason is ConnectionAbortedException aborted
                ? aborted
                : new ConnectionResetException($"The connection at {_address} was reset by the peer: {e.Message}", e);
            if (_shutdownReason is null)
            {
                PeerGone(error);
            }
        }
        finally
        {
            writer.Complete(error);
            Interlocked.Exchange(ref _receiveDone, 1);
            if (Volatile.Read(ref _sendDone) == 1)
            {
                SignalClosed("both directions ended");
            }
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
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
            error = new ConnectionResetException($"Sending on {_address} failed; the peer is gone: {e.Message}", e);
            if (_shutdownReason is null)
            {
                PeerGone(error);
            }
        }
        finally
        {
            error ??= _shutdownReason;
            reader.Complete(error);
            Interlocked.Exchange(ref _sendDone, 1);
            if (Volatile.Read(ref _receiveDone) == 1)
            {
                SignalClosed("both directions ended");
            }
        }
    }

    private ValueTask<int> SendAsync(in ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            return SendAllAsync(buffer.First);
        }

        return new ValueTask<int>(SendGatheredAsync(buffer));
    }

    private async ValueTask<int> SendAllAsync(ReadOnlyMemory<byte> memory)
    {
        var total = memory.Length;
        while (!memory.IsEmpty)
        {
            var sent = await _socket.SendAsync(memory, SocketFlags.None).ConfigureAwait(false);
            memory = memory[sent..];
        }

        return total;
    }

    private async Task<int> SendGatheredAsync(ReadOnlySequence<byte> buffer)
    {
        _gather.Clear();
        foreach (var segment in buffer)
        {
            if (!System.Runtime.InteropServices.MemoryMarshal.TryGetArray(segment, out var array))
            {
                // Not array-backed: send segment by segment.
                _gather.Clear();
                foreach (var piece in buffer)
                {
                    await SendAllAsync(piece).ConfigureAwait(false);
                }

                return (int)buffer.Length;
            }

            _gather.Add(array);
        }

        var remaining = (int)buffer.Length;
        var total = remaining;
        while (remaining > 0)
        {
            var sent = await _socket.SendAsync(_gather, SocketFlags.None).ConfigureAwait(false);
            remaining -= sent;
            if (remaining > 0)
            {
                Trim(_gather, sent);
            }
        }

        _gather.Clear();
        return total;
    }

    private static void Trim(List<ArraySegment<byte>> segments, int sent)
    {
        while (sent > 0)
        {
            var first = segments[0];
            if (sent >= first.Count)
            {
                sent -= first.Count;
                segments.RemoveAt(0);
            }
            else
            {
                segments[0] = first.Slice(sent);
                sent = 0;
            }
        }
    }

    private void PeerGone(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _shutdownReason, reason, null) is null)
        {
            _output.Reader.CancelPendingRead();
            SignalClosed(reason.Message);
        }
    }

    private unsafe bool PeerHungUp()
    {
        try
        {
            var fd = new SocketNative.PollFd { Fd = (int)_socket.Handle, Events = SocketNative.POLLIN };
            return SocketNative.Poll(&fd, 1, 0) == 1 && (fd.Revents & SocketNative.POLLHUP) != 0;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    private void SignalClosed(string reason)
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 1)
        {
            return;
        }

        UnixSocketLog.ConnectionEnded(_logger, ConnectionId, _address, reason);

        // Callbacks registered by the application must not run on a transport loop.
        ThreadPool.UnsafeQueueUserWorkItem(static cts =>
        {
            try
            {
                cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Disposed before the signal ran.
            }
        }, _closed, preferLocal: false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
