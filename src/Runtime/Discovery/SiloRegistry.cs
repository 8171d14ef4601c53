using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>
/// The group's silo registry: one JSON record per live silo in <c>.sandgrain/registry/</c>, each beside a lock
/// file its silo holds (<c>flock</c>) for its whole life. A record is alive while its lock is held; the kernel
/// drops the lock the instant the process dies, so there are no heartbeats and no pid-reuse problems, and it
/// works across PID namespaces.
/// </summary>
/// <remarks>
/// Records are written to a temporary name and renamed, so a reader never sees half a record. Records that do
/// not parse, are larger than <see cref="MaxRecordBytes"/> or come from a newer schema are skipped with one
/// warning each, never fatal. The registry is discovery by files because the App Sandbox strips payloads
/// from distributed notifications (seed 000).
/// </remarks>
internal sealed class SiloRegistry : IDisposable
{
    /// <summary>The folder under <c>.sandgrain</c>.</summary>
    public const string Folder = "registry";

    /// <summary>The largest record read; a larger file is skipped unread.</summary>
    public const int MaxRecordBytes = 64 * 1024;

    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    // How long a silo's fresh lock file may be busy with a reaper's orphan pass (a few file operations) before Publish
    // decides that a live process holds the id.
    private static readonly TimeSpan PublishContention = TimeSpan.FromMilliseconds(500);

    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length)> _warned = new(StringComparer.Ordinal);
    private readonly Lock _watchLock = new();
    private FileSystemWatcher? _watcher;
    private Timer? _poll;
    private EventHandler? _changed;

    /// <summary>Creates the registry of a group container.</summary>
    /// <param name="container">The group container.</param>
    /// <param name="logger">Where bad records are reported.</param>
    /// <param name="transports">The transports whose endpoint files a dead silo left are removed when it is reaped (each transport knows its own).</param>
    public SiloRegistry(GroupContainer container, ILogger<SiloRegistry>? logger = null, IEnumerable<ISandgrainTransport>? transports = null)
    {
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _transports = (transports ?? []).GroupBy(t => t.Scheme).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
    }

    private readonly Dictionary<string, ISandgrainTransport> _transports;

    /// <summary>The group container.</summary>
    public GroupContainer Container { get; }

    /// <summary>The registry folder (created on use).</summary>
    public string Path => Container.GetSandgrainFolder(Folder);

    /// <summary>
    /// Raised when records may have changed: on file-system events, and at least once a second while someone
    /// listens (the fallback where events are not delivered).
    /// </summary>
    public event EventHandler? Changed
    {
        add
        {
            lock (_watchLock)
            {
                _changed += value;
                StartWatching();
            }
        }

        remove
        {
            lock (_watchLock)
            {
                _changed -= value;
                if (_changed is null)
                {
                    StopWatching();
                }
            }
        }
    }

    /// <summary>
    /// Publishes a record and takes its silo's lock; the record stays published and alive until the returned
    /// registration is disposed or the process dies.
    /// </summary>
    /// <exception cref="ArgumentException">The record's silo id is malformed.</exception>
    /// <exception cref="InvalidOperationException">Another live process already holds that silo id.</exception>
    public SiloRegistration Publish(SiloRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!SiloRecord.IsValidSiloId(record.SiloId))
        {
            throw new ArgumentException($"Silo id '{record.SiloId}' must be 16 lower-case hex digits (SiloRecord.NewSiloId()).", nameof(record));
        }

        // A reaper may hold a fresh lock file for a moment (it is not yet beside a record); a live process holds it for good.
        var folder = Path;
        var siloLock = FileLock.TryAcquire(LockPath(folder, record.SiloId), PublishContention)
            ?? throw new InvalidOperationException($"Silo id {record.SiloId} is already held by a live process.");
        try
        {
            var registration = new SiloRegistration(this, record, siloLock);
            Write(record);
            return registration;
        }
        catch
        {
            siloLock.DeleteAndRelease();
            throw;
        }
    }

    /// <summary>All records that parse, with whether each silo is alive.</summary>
    public IReadOnlyList<SiloEntry> Snapshot()
    {
        var folder = Path;
        var entries = new List<SiloEntry>();
        foreach (var file in Directory.EnumerateFiles(folder, "*.json"))
        {
            var record = TryRead(file);
            if (record is not null)
            {
                // A shared probe: readers in many processes checking at once never make a dead silo look alive.
                entries.Add(new SiloEntry(record, FileLock.IsHeldExclusively(LockPath(folder, record.SiloId))));
            }
        }

        return entries;
    }

    /// <summary>The records of live silos.</summary>
    public IReadOnlyList<SiloRecord> LiveSilos() => Snapshot().Where(e => e.IsAlive).Select(e => e.Record).ToList();

    /// <summary>
    /// Removes the records of dead silos with their locks and the socket and segment files they listened on,
    /// and lock files left without a record. Returns the records removed.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Every lock file is deleted only by a holder of its lock (<see cref="FileLock.DeleteAndRelease"/>). A silo
    /// publishing takes its lock exclusively before it writes its record and holds it until its record is gone, so it
    /// can never lose its lock file to a reaper: while it holds the lock nobody else can, and a lock file deleted
    /// between its open and its lock is noticed by <see cref="FileLock.TryAcquire(string)"/>, which opens the path again.
    /// </para>
    /// <para>
    /// A dead silo is removed holding its lock <em>shared</em> (<see cref="FileLock.TryAcquireShared"/>): that proves
    /// nobody holds it exclusively, so the silo is gone for good (its id is never used again), while readers checking
    /// it meanwhile still see it dead — an exclusive hold would make it look alive to them until its record is gone.
    /// A lock file with no record beside it may be a silo's that is about to publish, so it is deleted only held
    /// exclusively, after checking, holding it, that still no record stands beside it.
    /// </para>
    /// </remarks>
    public IReadOnlyList<SiloRecord> Reap()
    {
        var folder = Path;
        var reaped = new List<SiloRecord>();
        foreach (var entry in Snapshot().Where(e => !e.IsAlive))
        {
            try
            {
                if (ReapDead(folder, entry.Record))
                {
                    reaped.Add(entry.Record);
                    DiscoveryLog.Reaped(_logger, entry.Record.SiloId, entry.Record.Helper, entry.Record.ProcessId);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                DiscoveryLog.ReapFailed(_logger, entry.Record.SiloId, e.Message);
            }
        }

        foreach (var lockFile in Directory.EnumerateFiles(folder, "*.lock"))
        {
            var id = System.IO.Path.GetFileNameWithoutExtension(lockFile);
            if (!SiloRecord.IsValidSiloId(id) || File.Exists(RecordPath(folder, id)))
            {
                continue;
            }

            try
            {
                // Busy means in use: a silo between taking its lock and writing its record, or another reaper.
                using var held = FileLock.TryAcquire(lockFile);
                if (held is not null && !File.Exists(RecordPath(folder, id)))
                {
                    held.DeleteAndRelease();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                DiscoveryLog.ReapFailed(_logger, id, e.Message);
            }
        }

        return reaped;
    }

    /// <summary>
    /// Waits, driven by <see cref="Changed"/>, until a live record matches <paramref name="match"/>, and returns it.
    /// </summary>
    public async Task<SiloRecord> WaitForAsync(Func<SiloRecord, bool> match, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        using var changes = new RegistryChangeSignal(this);
        while (true)
        {
            var changed = changes.Arm();
            var found = LiveSilos().FirstOrDefault(match);
            if (found is not null)
            {
                return found;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops watching the folder.</summary>
    public void Dispose()
    {
        lock (_watchLock)
        {
            _changed = null;
            StopWatching();
        }
    }

    internal void Write(SiloRecord record)
    {
        var folder = Path;
        var target = RecordPath(folder, record.SiloId);
        var temp = System.IO.Path.Combine(folder, $".{record.SiloId}.{Environment.ProcessId}.tmp");
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, RegistryJsonContext.Default.SiloRecord);
        using (var file = new FileStream(temp, PrivateFile.Options(FileMode.Create, FileAccess.Write)))
        {
            file.Write(bytes);
        }

        File.Move(temp, target, overwrite: true);
        DiscoveryLog.Published(_logger, record.SiloId, target);
    }

    internal void Remove(string siloId) => TryDelete(RecordPath(Path, siloId));

    internal static string LockPath(string folder, string siloId) => System.IO.Path.Combine(folder, siloId + ".lock");

    private static string RecordPath(string folder, string siloId) => System.IO.Path.Combine(folder, siloId + ".json");

    private SiloRecord? TryRead(string file)
    {
        string? problem;
        SiloRecord? record = null;
        FileInfo info;
        try
        {
            info = new FileInfo(file);
            if (info.Length > MaxRecordBytes)
            {
                problem = $"it is {info.Length} bytes, over the {MaxRecordBytes}-byte limit for a record";
            }
            else
            {
                var bytes = File.ReadAllBytes(file);
                record = JsonSerializer.Deserialize(bytes, RegistryJsonContext.Default.SiloRecord);
                problem = record switch
                {
                    null => "it holds no record",
                    { SchemaVersion: > SiloRecord.CurrentSchemaVersion } => $"it has schema version {record.SchemaVersion}, newer than this build's {SiloRecord.CurrentSchemaVersion}",
                    { SchemaVersion: < 1 } => $"it has schema version {record.SchemaVersion}",
                    _ when !SiloRecord.IsValidSiloId(record.SiloId) => $"its silo id '{record.SiloId}' is malformed",
                    _ when System.IO.Path.GetFileNameWithoutExtension(file) != record.SiloId => $"its silo id {record.SiloId} does not match its file name",

                    // JSON null is accepted by the deserializer for non-nullable members; a reader must not meet it.
                    { ActorTypes: null } or { Addresses: null } => "its actorTypes or addresses is null",
                    _ when record.ActorTypes.Any(t => t is null or { Length: 0 or > 1024 }) => "an entry of its actorTypes is empty, null or over 1024 characters",
                    _ when record.Addresses.Any(a => a is null || !TransportAddress.TryParse(a, out _, out _)) => "an entry of its addresses is not a transport address",
                    { Helper: { } helper } when !HelperLauncher.IsValidHelperName(helper) => $"its helper name '{helper}' is malformed",
                    _ => null,
                };
            }
        }
        catch (FileNotFoundException)
        {
            return null; // Removed while listing.
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            problem = $"it does not parse: {e.Message}";
            info = new FileInfo(file);
        }

        if (problem is null)
        {
            _warned.TryRemove(file, out _);
            return record;
        }

        // One warning per file version, not one per poll.
        var stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, 0L);
        if (!_warned.TryGetValue(file, out var seen) || seen != stamp)
        {
            _warned[file] = stamp;
            DiscoveryLog.BadRecord(_logger, file, problem);
        }

        return null;
    }

    /// <summary>Removes a dead silo's record, endpoint files and lock, holding its lock shared; false when it is not dead, or another reaper removed it.</summary>
    private bool ReapDead(string folder, SiloRecord record)
    {
        // Shared: readers checking the lock at this moment neither stop this nor see the silo alive because of it.
        using var held = FileLock.TryAcquireShared(LockPath(folder, record.SiloId));
        if (held is null)
        {
            return false;
        }

        if (!File.Exists(RecordPath(folder, record.SiloId)))
        {
            // Another reaper removed it first; the lock file this made (or found) has no record to keep alive.
            held.DeleteAndRelease();
            return false;
        }

        TryDelete(RecordPath(folder, record.SiloId));
        foreach (var address in record.Addresses)
        {
            RemoveEndpointFiles(address);
        }

        held.DeleteAndRelease();
        return true;
    }

    private void RemoveEndpointFiles(string address)
    {
        if (!TransportAddress.TryParse(address, out var parsed, out _))
        {
            return;
        }

        if (!_transports.TryGetValue(parsed.Scheme, out var transport))
        {
            return;
        }

        try
        {
            transport.RemoveStaleEndpoint(parsed);
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            // A record is anyone's to write: an address that breaks its transport's rules is not followed.
            DiscoveryLog.BadRecord(_logger, parsed.ToString(), $"its address could not be cleaned up: {e.Message}");
        }
    }

    private void StartWatching()
    {
        if (_watcher is not null)
        {
            return;
        }

        try
        {
            _watcher = new FileSystemWatcher(Path) { IncludeSubdirectories = false, EnableRaisingEvents = true };
            _watcher.Created += OnFileEvent;
            _watcher.Deleted += OnFileEvent;
            _watcher.Renamed += OnFileEvent;
            _watcher.Changed += OnFileEvent;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            // No file-system events here (inotify limit, sandbox): the poll below still runs.
            _watcher = null;
        }

        _poll = new Timer(_ => Raise(), null, PollInterval, PollInterval);
    }

    private void StopWatching()
    {
        _watcher?.Dispose();
        _watcher = null;
        _poll?.Dispose();
        _poll = null;
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e) => Raise();

    private void Raise() => _changed?.Invoke(this, EventArgs.Empty);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Gone already.
        }
    }
}

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
