namespace Sandgrain.Runtime.Activations;

/// <summary>
/// An activation's turn scheduler: runs the activation's tasks one at a time, in order, on pool threads —
/// and lets the thread that delivers a request run its first turn at once when the activation is idle,
/// which saves a thread wake-up per call (the dominant cost of a small call on a 2-core machine).
/// </summary>
/// <remarks>
/// Actor code runs as tasks of this scheduler, so its awaits return here (<see cref="TaskScheduler.Current"/>)
/// and never run on two threads at once. A turn run inline holds up the thread that delivered it, so actor
/// code must not block synchronously — the same rule as Orleans' scheduler.
/// </remarks>
internal sealed class TurnScheduler : TaskScheduler
{
    private readonly Queue<Task> _queue = new();
    private readonly Lock _lock = new();
    private bool _running;

    public override int MaximumConcurrencyLevel => 1;

    [ThreadStatic]
    private static TurnScheduler? t_inlineRequested;

    /// <summary>Starts <paramref name="task"/> on this scheduler, running it on this thread if no turn is running or queued.</summary>
    internal void RunInlineOrQueue(Task task)
    {
        // Start() hands the task to QueueTask, which sees this flag and may run it at once.
        t_inlineRequested = this;
        try
        {
            task.Start(this);
        }
        finally
        {
            t_inlineRequested = null;
        }
    }

    protected override void QueueTask(Task task)
    {
        if (t_inlineRequested == this)
        {
            t_inlineRequested = null;
            lock (_lock)
            {
                if (!_running && _queue.Count == 0)
                {
                    _running = true;
                }
                else
                {
                    _queue.Enqueue(task);
                    return;
                }
            }

            TryExecuteTask(task);
            Release();
            return;
        }

        lock (_lock)
        {
            _queue.Enqueue(task);
            if (_running)
            {
                return;
            }

            _running = true;
        }

        ThreadPool.UnsafeQueueUserWorkItem(static s => ((TurnScheduler)s!).Drain(), this);
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task> GetScheduledTasks()
    {
        lock (_lock)
        {
            return _queue.ToArray();
        }
    }

    private void Drain()
    {
        while (true)
        {
            Task next;
            lock (_lock)
            {
                if (!_queue.TryDequeue(out next!))
                {
                    _running = false;
                    return;
                }
            }

            TryExecuteTask(next);
        }
    }

    /// <summary>Ends an inline turn; work queued meanwhile goes to the pool.</summary>
    private void Release()
    {
        lock (_lock)
        {
            if (_queue.Count == 0)
            {
                _running = false;
                return;
            }
        }

        ThreadPool.UnsafeQueueUserWorkItem(static s => ((TurnScheduler)s!).Drain(), this);
    }
}
