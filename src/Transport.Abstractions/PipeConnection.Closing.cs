namespace Sandgrain.Transport;

internal abstract partial class PipeConnection : IConnectionEndFeature
{
    private readonly TimeSpan _closeTimeout;
    private int _closedSignalled;
    private int _aborted;
    private long _sendProgress;
    private volatile string? _endReason;
    private volatile bool _peerLost;

    /// <inheritdoc />
    public bool PeerLost => _peerLost;

    /// <inheritdoc />
    public string? EndReason => _endReason;

    /// <summary>
    /// The peer's end of stream arrived after the connection was signalled closed as a loss (a send that failed noticed
    /// first): the end was clean after all. Call it before the input ends.
    /// </summary>
    protected void PeerEndedItsStream() => _peerLost = false;

    /// <summary>The send loop moved bytes to the peer (the kernel or the ring took some): a draining disposal waits on.</summary>
    protected void ReportSendProgress() => Volatile.Write(ref _sendProgress, _sendProgress + 1);

    /// <summary>
    /// Fires <see cref="ConnectionClosed"/> once, on the thread pool, after recording how the connection ended for
    /// <see cref="IConnectionEndFeature"/>, and passes <paramref name="reason"/> to <see cref="OnClosed"/>; false when it
    /// had fired already. Call it before the input ends, so a reader that sees the end finds the reason.
    /// </summary>
    /// <param name="reason">How the connection ended, as a sentence.</param>
    /// <param name="peerLost">True when the peer went without ending its stream (see <see cref="IConnectionEndFeature.PeerLost"/>).</param>
    protected bool SignalClosed(string reason, bool peerLost = false)
    {
        if (Interlocked.Exchange(ref _closedSignalled, 1) == 1)
        {
            return false;
        }

        _peerLost = peerLost;
        _endReason = reason;

        // Callbacks registered by the application must not run on a transport loop. The source is never disposed
        // (it has no timer or wait handle to release), so a signal queued just before a disposal still fires.
        ThreadPool.UnsafeQueueUserWorkItem(static cts => cts.Cancel(), _closed, preferLocal: false);
        OnClosed(reason);
        return true;
    }

    /// <summary>
    /// The graceful half of a disposal: the application is done with the connection (Kestrel's own transports take a
    /// disposal the same way), so its output is completed here and the send loop sends what is queued and ends the
    /// stream. Waits while the peer keeps taking bytes; after a whole close timeout in which it took none (a peer that
    /// does not read), or after an abort, the rest is discarded.
    /// </summary>
    private async Task DrainAsync()
    {
        if (Volatile.Read(ref _aborted) == 1 || _sending.IsCompleted)
        {
            return;
        }

        await Output.Writer.CompleteAsync().ConfigureAwait(false);
        using var stop = new CancellationTokenSource();
        try
        {
            var seen = Volatile.Read(ref _sendProgress) - 1;
            while (!_sending.IsCompleted && Volatile.Read(ref _aborted) == 0)
            {
                var progress = Volatile.Read(ref _sendProgress);
                if (progress == seen)
                {
                    OnDrainAbandoned(_closeTimeout);
                    return;
                }

                seen = progress;
                await Task.WhenAny(_sending, Task.Delay(_closeTimeout, stop.Token)).ConfigureAwait(false);
            }
        }
        finally
        {
            // The wait's timer goes with it.
            stop.Cancel();
        }
    }

    /// <summary>A disposal gave up sending what was queued: the peer took nothing for <paramref name="closeTimeout"/> (to log it).</summary>
    protected virtual void OnDrainAbandoned(TimeSpan closeTimeout)
    {
    }
}
