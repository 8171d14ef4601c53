namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// The requests a connection runs, by correlation id, each with what cancels it and when its caller stops waiting:
/// a plain table under a lock (a ConcurrentDictionary would allocate a node per request), with its count kept by an
/// interlocked write, the full fence the connection's watch needs (see <see cref="ConnectionWatch.Arm"/>).
/// </summary>
internal sealed class RunningRequests
{
    private readonly Dictionary<ulong, Entry> _table = [];
    private readonly Lock _lock = new();
    private int _count;

    /// <summary>True while any request runs.</summary>
    internal bool Any => Volatile.Read(ref _count) > 0;

    /// <summary>
    /// Enters a request. A peer that reuses a running request's id replaces that one here (it can no longer be
    /// cancelled by id); each request later removes only its own entry, so the count follows the table.
    /// </summary>
    internal void Add(ulong correlation, CancellationTokenSource cancellation, long deadline)
    {
        lock (_lock)
        {
            if (_table.TryAdd(correlation, new Entry(cancellation, deadline)))
            {
                Interlocked.Increment(ref _count);
            }
            else
            {
                _table[correlation] = new Entry(cancellation, deadline);
            }
        }
    }

    /// <summary>Removes the request's entry, if it is still its own (matched by its cancellation source, which the sweep leaves as it was).</summary>
    internal void Remove(ulong correlation, CancellationTokenSource cancellation)
    {
        lock (_lock)
        {
            if (_table.TryGetValue(correlation, out var entry) && ReferenceEquals(entry.Cancellation, cancellation))
            {
                _table.Remove(correlation);
                Interlocked.Decrement(ref _count);
            }
        }
    }

    internal CancellationTokenSource? Find(ulong correlation)
    {
        lock (_lock)
        {
            return _table.TryGetValue(correlation, out var entry) ? entry.Cancellation : null;
        }
    }

    internal CancellationTokenSource[] All()
    {
        lock (_lock)
        {
            return [.. _table.Values.Select(e => e.Cancellation)];
        }
    }

    /// <summary>
    /// The requests whose deadline is at or before <paramref name="now"/>, each returned once: its deadline is
    /// cleared as it is taken, so sweeps that come before its cancellation has run pass it by.
    /// </summary>
    internal List<CancellationTokenSource>? TakeDue(long now)
    {
        List<(ulong Correlation, Entry Entry)>? due = null;
        lock (_lock)
        {
            foreach (var (correlation, entry) in _table)
            {
                if (entry.Deadline <= now)
                {
                    (due ??= []).Add((correlation, entry));
                }
            }

            if (due is null)
            {
                return null;
            }

            foreach (var (correlation, entry) in due)
            {
                _table[correlation] = entry with { Deadline = long.MaxValue };
            }
        }

        return due.ConvertAll(d => d.Entry.Cancellation);
    }

    private readonly record struct Entry(CancellationTokenSource Cancellation, long Deadline);
}
