using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Sandgrain.Transport;

/// <summary>
/// What every Sandgrain connection shares: its id, features, the two bounded pipes between the transport and
/// the application, the <see cref="ConnectionClosed"/> signal, and the life cycle — a receive loop on a thread of
/// its own and an async send loop, started by <see cref="Start"/>; <see cref="Abort(ConnectionAbortedException)"/>
/// stops them at once through <see cref="Stop"/>; <see cref="DisposeAsync"/> first lets the send loop deliver what is
/// queued and end the stream, then stops, waits for both loops, releases what the transport holds, then the pipes.
/// A transport adds only how bytes move.
/// </summary>
/// <remarks>
/// Input (transport → application): the transport's receive thread writes and its flushes wait when
/// <c>maxReadBufferSize</c> bytes are unread (back-pressure to the peer). Output (application → transport): the
/// transport reads on the writer's own thread (inline) and the application's flushes wait when
/// <c>maxWriteBufferSize</c> bytes are unsent.
/// </remarks>
internal abstract partial class PipeConnection : ConnectionContext
{
    private const int MinimumSegmentSize = 64 * 1024;
    private const string BothEnded = "Both sides ended their streams.";
    private static long s_nextId;

    private readonly CancellationTokenSource _closed = new();
    private Task _sending = Task.CompletedTask;
    private Task? _disposing;
    private int _receiveEnded;
    private int _sendEnded;

    /// <param name="scheme">The connection id's prefix (the transport's scheme).</param>
    /// <param name="peer">Who the peer is, when the transport knows.</param>
    /// <param name="local">The local end point, if any.</param>
    /// <param name="remote">The remote end point, if any.</param>
    /// <param name="maxReadBufferSize">Unread input at which the receive loop waits.</param>
    /// <param name="maxWriteBufferSize">Unsent output at which the application's flushes wait.</param>
    /// <param name="inlineReads">
    /// True when the transport's receive loop can be replaced while the application holds one of its threads: the
    /// connection then offers <see cref="IReceiveThreadFeature"/>, through which an application that can take its
    /// reading over from a held thread (the Sandgrain runtime) has its reader run on the receive thread. Until then,
    /// and always otherwise, reads are continued on the thread pool.
    /// </param>
    /// <param name="closeTimeout">How long a disposal waits for the peer to take more of what is still queued before it discards the rest.</param>
    protected PipeConnection(string scheme, IPeerIdentityFeature? peer, EndPoint? local, EndPoint? remote, int maxReadBufferSize, int maxWriteBufferSize, bool inlineReads, TimeSpan closeTimeout)
    {
        _closeTimeout = closeTimeout;
        ConnectionId = scheme + "-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (peer is not null)
        {
            Features.Set(peer);
        }

        if (inlineReads)
        {
            Features.Set<IReceiveThreadFeature>(this);
        }

        Features.Set<IConnectionEndFeature>(this);

        LocalEndPoint = local;
        RemoteEndPoint = remote;
        Input = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared,
            readerScheduler: inlineReads ? new ReceiveScheduler(this) : PipeScheduler.ThreadPool,
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

    /// <summary>The name of the receive thread, e.g. <c>sandgrain-unix-recv</c>.</summary>
    protected abstract string ReceiveThreadName { get; }

    /// <summary>Starts the receive loop on a thread of its own and the send loop, then <see cref="OnStarted"/>.</summary>
    internal void Start()
    {
        StartReceiver();
        _sending = SendLoopAsync();
        OnStarted();
    }

    /// <summary>
    /// Starts the send loop now and the receive loop once <paramref name="readable"/> says the peer has sent
    /// something (or hung up): a peer that stays silent costs no thread of its own. The task it is given is
    /// cancelled when the connection closes first; the receive loop then runs inline to end the input (its socket is
    /// shut down by then, so nothing in it waits).
    /// </summary>
    internal void StartWhenReadable(Func<CancellationToken, Task> readable)
    {
        _sending = SendLoopAsync();
        OnStarted();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SetReceiver(started.Task, 0);
        _ = ReceiveWhenReadableAsync(readable(_closed.Token), started);
    }

    /// <inheritdoc />
    public sealed override void Abort(ConnectionAbortedException abortReason)
    {
        Interlocked.Exchange(ref _aborted, 1);
        Stop(abortReason);
    }

    /// <summary>
    /// Closes gracefully, as Kestrel expects of a transport: the application's output ends here and what is queued is
    /// sent and the stream ended (see <see cref="DrainAsync"/>); then <see cref="Stop"/>, waits for both loops, releases
    /// what the transport holds (<see cref="ReleaseResourcesAsync"/>) and the pipes. After an
    /// <see cref="Abort(ConnectionAbortedException)"/> nothing more is sent. Concurrent and repeated calls share one disposal.
    /// </summary>
    public sealed override ValueTask DisposeAsync()
    {
        var disposing = Volatile.Read(ref _disposing);
        if (disposing is null)
        {
            var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            disposing = Interlocked.CompareExchange(ref _disposing, mine.Task, null);
            if (disposing is null)
            {
                _ = DisposeCoreAsync(mine);
                disposing = mine.Task;
            }
        }

        return new ValueTask(disposing);
    }

    /// <summary>
    /// Receives into <see cref="Input"/> until the stream ends; runs on its own thread and may block. It flushes
    /// through <see cref="FlushInput"/> with its <paramref name="generation"/>, and returns at once, touching
    /// nothing, when that says it was replaced.
    /// </summary>
    protected abstract void ReceiveLoop(int generation);

    /// <summary>Sends what the application writes to <see cref="Output"/> until it completes or the connection stops.</summary>
    protected abstract Task SendLoopAsync();

    /// <summary>
    /// Ends the connection at once, for <see cref="Abort(ConnectionAbortedException)"/> and <see cref="DisposeAsync"/>:
    /// records why, makes both loops stop and fires <see cref="ConnectionClosed"/>. Called more than once.
    /// </summary>
    protected abstract void Stop(Exception reason);

    /// <summary>Runs after both loops have started (a transport's further loops).</summary>
    protected virtual void OnStarted()
    {
    }

    /// <summary>Releases what the transport holds besides the pipes, once both loops have ended (the last step of disposal but one).</summary>
    protected virtual ValueTask ReleaseResourcesAsync() => default;

    /// <summary>Called once, when <see cref="ConnectionClosed"/> is signalled, with the reason (to log it).</summary>
    protected virtual void OnClosed(string reason)
    {
    }

    /// <summary>True once the send loop has ended (the stream to the peer is ended or the connection stopped).</summary>
    protected bool SendHasEnded => Volatile.Read(ref _sendEnded) == 1;

    /// <summary>The receive loop has ended; with the send loop ended too, the connection is closed.</summary>
    protected void ReceiveEnded()
    {
        Interlocked.Exchange(ref _receiveEnded, 1);
        if (Volatile.Read(ref _sendEnded) == 1)
        {
            _ = SignalClosed(BothEnded);
        }
    }

    /// <summary>The send loop has ended; with the receive loop ended too, the connection is closed.</summary>
    protected void SendEnded()
    {
        Interlocked.Exchange(ref _sendEnded, 1);
        if (Volatile.Read(ref _receiveEnded) == 1)
        {
            _ = SignalClosed(BothEnded);
        }
    }

    private async Task ReceiveWhenReadableAsync(Task readable, TaskCompletionSource started)
    {
        try
        {
            await readable.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            ReceiveLoop(NextGeneration());
            started.SetResult();
            return;
        }

        StartReceiver();
        started.SetResult();
    }

    /// <summary>Runs a connection's receive loop on a thread of its own, which may block; the task completes when it ends.</summary>
    private static Task StartReceiveThread(string name, Action loop)
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

    private async Task DisposeCoreAsync(TaskCompletionSource done)
    {
        try
        {
            EndReplacements();
            await DrainAsync().ConfigureAwait(false);
            Stop(new ConnectionAbortedException("The connection was disposed."));
            await WaitForReceiversAsync().ConfigureAwait(false);
            await _sending.ConfigureAwait(false);
            await ReleaseResourcesAsync().ConfigureAwait(false);
            ReleasePipes();
            done.SetResult();
        }
        catch (Exception e)
        {
            done.SetException(e);
        }
    }

    /// <summary>Completes the application's ends of the pipes (last step of disposal).</summary>
    private void ReleasePipes()
    {
        Input.Reader.Complete();
        Output.Writer.Complete();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
