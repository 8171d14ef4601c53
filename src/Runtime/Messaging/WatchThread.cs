using System.Diagnostics;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The one thread that ticks every armed <see cref="ConnectionWatch"/> of the process (see its remarks for why not
/// the pool). It sleeps until the earliest tick due, and without a timeout while no watch is armed; it is started by
/// the first watch armed and lives as long as the process, as a background thread.
/// </summary>
internal sealed class WatchThread
{
    internal static readonly WatchThread Instance = new();

    private readonly object _gate = new();
    private readonly HashSet<ConnectionWatch> _armed = [];
    private readonly List<ConnectionWatch> _due = [];
    private Thread? _thread;

    // When the thread wakes next by itself (long.MaxValue: not until told; long.MinValue: it is ticking, and looks
    // at the list again before it sleeps): an armed watch due before it wakes the thread.
    private long _wakesAt = long.MaxValue;

    internal void Add(ConnectionWatch watch, long due)
    {
        lock (_gate)
        {
            watch.Due = due;
            _armed.Add(watch);

            if (_thread is null)
            {
                // Not the arming caller's execution context (its activity, its async locals): the thread serves everyone.
                _thread = new Thread(Run) { IsBackground = true, Name = "sandgrain-watch" };
                _thread.UnsafeStart();
            }
            else if (due < _wakesAt)
            {
                Monitor.Pulse(_gate);
            }
        }
    }

    internal void Remove(ConnectionWatch watch)
    {
        lock (_gate)
        {
            _armed.Remove(watch);
        }
    }

    private void Run()
    {
        while (true)
        {
            lock (_gate)
            {
                while (!TakeDue())
                {
                    if (_wakesAt == long.MaxValue)
                    {
                        Monitor.Wait(_gate);
                    }
                    else
                    {
                        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _wakesAt);
                        Monitor.Wait(_gate, TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(wait.TotalMilliseconds))));
                    }
                }

                _wakesAt = long.MinValue;
            }

            foreach (var watch in _due)
            {
                var next = watch.Tick();
                if (next != 0)
                {
                    lock (_gate)
                    {
                        // Not if it was removed meanwhile (disposed): only a watch still armed is rescheduled.
                        if (_armed.Contains(watch))
                        {
                            watch.Due = next;
                        }
                    }
                }
            }

            _due.Clear();
        }
    }

    /// <summary>Moves the watches due now to <see cref="_due"/>; true when there are any, else sets when to wake.</summary>
    private bool TakeDue()
    {
        var now = Stopwatch.GetTimestamp();
        var next = long.MaxValue;
        foreach (var watch in _armed)
        {
            if (watch.Due <= now)
            {
                _due.Add(watch);
            }
            else
            {
                next = Math.Min(next, watch.Due);
            }
        }

        _wakesAt = next;
        return _due.Count > 0;
    }
}
