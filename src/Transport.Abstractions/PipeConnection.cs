using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Sandgrain.Transport;

/// <summary>
/// What every Sandgrain connection shares: its id, features, the two bounded pipes between the transport and
/// the application, and the <see cref="ConnectionClosed"/> signal. A transport adds only how bytes move.
/// </summary>
/// <remarks>
/// Input (transport → application): the transport's receive thread writes and its flushes wait when
/// <c>maxReadBufferSize</c> bytes are unread (back-pressure to the peer). Output (application → transport): the
/// transport reads on the writer's own thread (inline) and the application's flushes wait when
/// <c>maxWriteBufferSize</c> bytes are unsent.
/// </remarks>
internal abstract class PipeConnection : ConnectionContext
{
    private const int MinimumSegmentSize = 64 * 1024;
    private static long s_nextId;

    private readonly CancellationTokenSource _closed = new();
    private int _closedSignalled;

    protected PipeConnection(string scheme, IPeerIdentityFeature? peer, EndPoint? local, EndPoint? remote, int maxReadBufferSize, int maxWriteBufferSize, bool inlineReads)
    {
        ConnectionId = scheme + "-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (peer is not null)
        {
            Features.Set(peer);
        }

        LocalEndPoint = local;
        RemoteEndPoint = remote;
        Input = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared,
            readerScheduler: inlineReads ? PipeScheduler.Inline : PipeScheduler.ThreadPool,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: maxReadBufferSize,
            resumeWriterThreshold: maxReadBufferSize / 2,
            minimumSegmentSize: MinimumSegmentSize,
            useSynchronizationContext: false));
        Output = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: maxWriteBufferSize,
            resumeWriterThreshold: maxWriteBufferSize / 2,
            minimumSegmentSize: MinimumSegmentSize,
            useSynchronizationContext: false));
        Transport = new DuplexPipe(Input.Reader, Output.Writer);
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

    /// <summary>Transport → application.</summary>
    protected Pipe Input { get; }

    /// <summary>Application → transport.</summary>
    protected Pipe Output { get; }

    /// <summary>Runs a connection's receive loop on a thread of its own, which may block; the task completes when it ends.</summary>
    protected static Task StartReceiveThread(string name, Action loop)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                loop();
            }
            finally
            {
                ended.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return ended.Task;
    }

    /// <summary>Fires <see cref="ConnectionClosed"/> once, on the thread pool; false when it had fired already.</summary>
    protected bool SignalClosed()
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 1)
        {
            return false;
        }

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
        return true;
    }

    /// <summary>Completes the application's ends of the pipes and releases the signal (last step of disposal).</summary>
    protected void ReleasePipes()
    {
        Input.Reader.Complete();
        Output.Writer.Complete();
        _closed.Dispose();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
