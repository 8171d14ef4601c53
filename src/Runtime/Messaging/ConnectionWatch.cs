namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One timer per connection, running only while there is something to watch: the deadlines of the calls the
/// connection waits for, and the read loop while it runs code on the thread that reads. A call carries no timer of
/// its own; an idle connection has no timer running.
/// </summary>
internal sealed class ConnectionWatch : IDisposable
{
    /// <summary>How late a call's deadline may be noticed at most.</summary>
    internal static readonly TimeSpan DeadlineGranularity = TimeSpan.FromMilliseconds(10);

    private readonly ITimer _timer;
    private readonly TimeSpan _period;
    private readonly Action _sweep;
    private readonly Func<bool> _hasWork;
    private readonly Action<Exception> _failed;
    private int _armed;
    private int _ticking;

    /// <summary>
    /// Half the stall threshold in whole milliseconds (the system timer's unit: a period that rounds to 0 would fire
    /// once and never again), at least 1 ms and at most <see cref="DeadlineGranularity"/>, so that deadlines stay punctual.
    /// </summary>
    internal static TimeSpan PeriodFor(TimeSpan stallThreshold) =>
        TimeSpan.FromMilliseconds(Math.Clamp(Math.Floor(stallThreshold.TotalMilliseconds / 2), 1, DeadlineGranularity.TotalMilliseconds));

    /// <param name="period">How often to sweep while armed.</param>
    /// <param name="sweep">Expires what is due and checks the read loop.</param>
    /// <param name="hasWork">True while something is left to watch.</param>
    /// <param name="failed">Told what a sweep threw; the watch goes on.</param>
    internal ConnectionWatch(TimeSpan period, Action sweep, Func<bool> hasWork, Action<Exception> failed)
    {
        _failed = failed;
        _period = period;
        _sweep = sweep;
        _hasWork = hasWork;

        // Real time, whatever clock the silo's deadlines use: a thread held by blocking code is held in real time.
        _timer = TimeProvider.System.CreateTimer(static s => ((ConnectionWatch)s!).Tick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Starts the timer if it is not running. Call after making the work visible with a full fence (an interlocked
    /// write, or a concurrent collection's): the timer stops only after looking for work again past its own fence,
    /// so between the two, work is never left unwatched.
    /// </summary>
    internal void Arm()
    {
        if (Volatile.Read(ref _armed) == 0 && Interlocked.CompareExchange(ref _armed, 1, 0) == 0)
        {
            _timer.Change(_period, _period);
        }
    }

    public void Dispose() => _timer.Dispose();

    private void Tick()
    {
        // A tick that takes longer than the period must not run beside the next.
        if (Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        try
        {
            try
            {
                _sweep();
            }
            catch (Exception e)
            {
                // A timer callback that throws ends the process; a failed sweep is reported, and the next tick sweeps again.
                _failed(e);
            }

            if (!_hasWork())
            {
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                Interlocked.Exchange(ref _armed, 0);
                if (_hasWork())
                {
                    Arm();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }
}
