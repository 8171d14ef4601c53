using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>A published record and the lock that keeps it alive. Disposing removes the record.</summary>
internal sealed class SiloRegistration : IDisposable
{
    private readonly SiloRegistry _registry;
    private readonly FileLock _lock;
    private int _disposed;

    internal SiloRegistration(SiloRegistry registry, SiloRecord record, FileLock siloLock)
    {
        _registry = registry;
        Record = record;
        _lock = siloLock;
    }

    /// <summary>The record as last published.</summary>
    public SiloRecord Record { get; private set; }

    /// <summary>Replaces the published record (atomically, by rename); the silo id cannot change.</summary>
    public void Update(SiloRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.SiloId != Record.SiloId)
        {
            throw new ArgumentException($"A registration cannot change its silo id ({Record.SiloId} → {record.SiloId}).", nameof(record));
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        _registry.Write(record);
        Record = record;
    }

    /// <summary>Removes the record and releases the silo's lock (clean shutdown).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Record first, then the lock file, deleted while it is held: a reader never sees a record without a lock.
        _registry.Remove(Record.SiloId);
        _lock.DeleteAndRelease();
    }
}
