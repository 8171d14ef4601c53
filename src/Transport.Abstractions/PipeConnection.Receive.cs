using System.IO.Pipelines;

namespace Sandgrain.Transport;

internal abstract partial class PipeConnection : IReceiveThreadFeature
{
    // The generation of the receive thread that is inside FlushInput, 0 when none is, -1 once disposal has begun.
    private const int ReplacementsEnded = -1;

    private readonly Lock _receiversLock = new();
    private Task _receiving = Task.CompletedTask;
    private int _receivingGeneration;
    private int _abandonedGeneration;
    private int _lastGeneration;
    private int _inlineFlush;
    private int _readInline;

    /// <inheritdoc />
    public void ReadInline() => Volatile.Write(ref _readInline, 1);

    /// <summary>
    /// Flushes what the receive loop wrote to <see cref="Input"/> and waits while the application has not made room
    /// (the back-pressure). False when this thread was replaced while the application's reader ran on it inline: the
    /// loop must then return at once and touch nothing, since another thread owns the connection's receiving now.
    /// </summary>
    protected bool FlushInput(int generation, out FlushResult result)
    {
        var marked = Interlocked.CompareExchange(ref _inlineFlush, generation, 0) == 0;
        var flush = Input.Writer.FlushAsync();
        if (marked && Interlocked.CompareExchange(ref _inlineFlush, 0, generation) != generation)
        {
            result = default;
            return false;
        }

        result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
        return true;
    }

    /// <inheritdoc />
    public bool TryReplaceStalledReceiver()
    {
        lock (_receiversLock)
        {
            var held = Volatile.Read(ref _inlineFlush);
            if (held <= 0 || Interlocked.CompareExchange(ref _inlineFlush, 0, held) != held)
            {
                return false;
            }

            _abandonedGeneration = held;
            StartReceiver();
            return true;
        }
    }

    private int NextGeneration() => Interlocked.Increment(ref _lastGeneration);

    private void StartReceiver()
    {
        var generation = NextGeneration();
        SetReceiver(StartReceiveThread(ReceiveThreadName, () => ReceiveLoop(generation)), generation);
    }

    private void SetReceiver(Task receiving, int generation)
    {
        lock (_receiversLock)
        {
            _receiving = receiving;
            _receivingGeneration = generation;
        }
    }

    /// <summary>
    /// No receive thread is replaced from here on. One that is inside a flush now is abandoned: it returns without
    /// touching the connection, so disposal need not wait for the application to let it go.
    /// </summary>
    private void EndReplacements()
    {
        lock (_receiversLock)
        {
            var held = Interlocked.Exchange(ref _inlineFlush, ReplacementsEnded);
            if (held > 0)
            {
                _abandonedGeneration = held;
            }
        }
    }

    /// <summary>Waits for the receive loop that owns the connection now (and for any that takes over meanwhile).</summary>
    private async Task WaitForReceiversAsync()
    {
        while (true)
        {
            Task receiving;
            lock (_receiversLock)
            {
                if (_receivingGeneration != 0 && _receivingGeneration == _abandonedGeneration)
                {
                    return;
                }

                receiving = _receiving;
            }

            await receiving.ConfigureAwait(false);
            lock (_receiversLock)
            {
                if (ReferenceEquals(receiving, _receiving))
                {
                    return;
                }
            }
        }
    }

    /// <summary>The input's reader scheduler: the thread pool until <see cref="ReadInline"/>, then the receive thread.</summary>
    private sealed class ReceiveScheduler(PipeConnection connection) : PipeScheduler
    {
        public override void Schedule(Action<object?> action, object? state)
        {
            if (Volatile.Read(ref connection._readInline) == 1)
            {
                action(state);
            }
            else
            {
                System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
            }
        }
    }
}
