namespace Sandgrain.Runtime.Activations;

/// <summary>
/// Admits the requests of a non-reentrant activation in arrival order: a writing request alone, read-only
/// requests (<c>[ReadOnly]</c>, as in Orleans) together with each other but never with a writer. First come,
/// first served, so a stream of readers cannot starve a writer.
/// </summary>
internal sealed class TurnGate
{
    private readonly Lock _lock = new();
    private readonly Queue<Waiter> _waiting = new();
    private int _readers;
    private bool _writer;

    /// <summary>Waits for admission; the caller must call <see cref="Exit"/> with the same kind once admitted.</summary>
    internal Task EnterAsync(bool readOnly, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_waiting.Count == 0 && !_writer && (readOnly || _readers == 0))
            {
                Take(readOnly);
                return Task.CompletedTask;
            }

            cancellationToken.ThrowIfCancellationRequested();
            waiter = new Waiter(readOnly);
            _waiting.Enqueue(waiter);
        }

        if (cancellationToken.CanBeCanceled)
        {
            waiter.Registration = cancellationToken.Register(static s => ((Waiter)s!).Cancel(), waiter);
        }

        return waiter.Task;
    }

    internal void Exit(bool readOnly)
    {
        List<Waiter>? admitted = null;
        lock (_lock)
        {
            if (readOnly)
            {
                _readers--;
            }
            else
            {
                _writer = false;
            }

            while (_waiting.TryPeek(out var head))
            {
                if (head.IsCancelled)
                {
                    _waiting.Dequeue();
                    continue;
                }

                if (_writer || (!head.ReadOnly && _readers > 0))
                {
                    break;
                }

                _waiting.Dequeue();
                if (!head.TryAdmit())
                {
                    continue;
                }

                Take(head.ReadOnly);
                (admitted ??= []).Add(head);
                if (!head.ReadOnly)
                {
                    break;
                }
            }
        }

        // Outside the lock: admitted requests continue on their own (RunContinuationsAsynchronously). No list at all
        // when nobody waited, the usual case: `admitted ?? []` would allocate an empty one on every exit.
        if (admitted is null)
        {
            return;
        }

        foreach (var waiter in admitted)
        {
            waiter.Complete();
        }
    }

    private void Take(bool readOnly)
    {
        if (readOnly)
        {
            _readers++;
        }
        else
        {
            _writer = true;
        }
    }

    private sealed class Waiter(bool readOnly) : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        private int _state; // 0 waiting, 1 admitted, 2 cancelled

        internal bool ReadOnly { get; } = readOnly;

        internal CancellationTokenRegistration Registration { get; set; }

        internal bool IsCancelled => Volatile.Read(ref _state) == 2;

        internal bool TryAdmit() => Interlocked.CompareExchange(ref _state, 1, 0) == 0;

        internal void Complete()
        {
            Registration.Dispose();
            TrySetResult();
        }

        internal void Cancel()
        {
            if (Interlocked.CompareExchange(ref _state, 2, 0) == 0)
            {
                TrySetCanceled();
            }
        }
    }
}
