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
internal sealed partial class SiloRegistry : IDisposable
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
