using System.Diagnostics;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// One watch per connection, ticking only while there is something to watch: the deadlines of the calls the
/// connection waits for, and the read loop while it runs code on the thread that reads. A call carries no timer of
/// its own; an idle connection costs nothing.
/// </summary>
/// <remarks>
/// Every watch of the process ticks on one dedicated thread (<see cref="WatchThread"/>), not on the thread pool: the
/// code a watch guards against, code that blocks the thread it was given, is also what starves the pool
/// (sync-over-async), and a watch that waits for a pool thread would notice a held read loop only once the pool has
/// grown one, seconds later. A tick does nothing that can block: a call past its deadline is failed with its
/// continuation sent to the pool, a cancellation is signalled from the pool, and a new read loop gets a thread of its own.
/// </remarks>
internal sealed class ConnectionWatch : IDisposable
{
    /// <summary>How late a call's deadline may be noticed at most.</summary>
    internal static readonly TimeSpan DeadlineGranularity = TimeSpan.FromMilliseconds(10);

    private readonly long _period;
    private readonly Action _sweep;
    private readonly Func<bool> _hasWork;
    private readonly Action<Exception> _failed;
    private int _armed;
    private int _disposed;

    /// <summary>
    /// Half the stall threshold in whole milliseconds, at least 1 ms and at most <see cref="DeadlineGranularity"/>, so
    /// that deadlines stay punctual.
    /// </summary>
    internal static TimeSpan PeriodFor(TimeSpan stallThreshold) =>
        TimeSpan.FromMilliseconds(Math.Clamp(Math.Floor(stallThreshold.TotalMilliseconds / 2), 1, DeadlineGranularity.TotalMilliseconds));

    /// <param name="period">How often to sweep while armed.</param>
    /// <param name="sweep">Expires what is due and checks the read loop; must not block.</param>
    /// <param name="hasWork">True while something is left to watch.</param>
    /// <param name="failed">Told what a sweep threw; the watch goes on.</param>
    internal ConnectionWatch(TimeSpan period, Action sweep, Func<bool> hasWork, Action<Exception> failed)
    {
        // Real time, whatever clock the silo's deadlines use: a thread held by blocking code is held in real time.
        _period = Math.Max(1, (long)(period.TotalSeconds * Stopwatch.Frequency));
        _failed = failed;
        _sweep = sweep;
        _hasWork = hasWork;
    }

    /// <summary>When the watch thread ticks this watch next (a <see cref="Stopwatch"/> timestamp); the thread's to keep.</summary>
    internal long Due { get; set; }

    /// <summary>
    /// Starts ticking if not already. Call after making the work visible with a full fence (an interlocked write, or
    /// a concurrent collection's): the watch stops only after looking for work again past its own fence, so between
    /// the two, work is never left unwatched.
    /// </summary>
    internal void Arm()
    {
        if (Volatile.Read(ref _armed) == 0 && Interlocked.CompareExchange(ref _armed, 1, 0) == 0)
        {
            if (Volatile.Read(ref _disposed) == 1)
            {
                return;
            }

            WatchThread.Instance.Add(this, Stopwatch.GetTimestamp() + _period);
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, 1);
        WatchThread.Instance.Remove(this);
    }

    /// <summary>Runs on the watch thread when <see cref="Due"/> has come; returns when to tick next, or 0 to stop.</summary>
    internal long Tick()
    {
        try
        {
            _sweep();
        }
        catch (Exception e)
        {
            // A sweep that fails is reported, and the next tick sweeps again.
            Report(e);
        }

        try
        {
            if (Volatile.Read(ref _disposed) == 0 && _hasWork())
            {
                return Stopwatch.GetTimestamp() + _period;
            }

            // Off the thread's list first, then the flag, then a last look (see Arm): work made visible meanwhile re-arms.
            WatchThread.Instance.Remove(this);
            Interlocked.Exchange(ref _armed, 0);
            if (Volatile.Read(ref _disposed) == 0 && _hasWork())
            {
                Arm();
            }

            return 0;
        }
        catch (Exception e)
        {
            Report(e);
            return Stopwatch.GetTimestamp() + _period;
        }
    }

    private void Report(Exception e)
    {
        try
        {
            _failed(e);
        }
        catch (Exception)
        {
            // The report itself failed (a logger that throws): the watch thread serves every connection, and goes on.
        }
    }
}
