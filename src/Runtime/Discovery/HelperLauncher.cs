using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>
/// Starts helpers on demand, exactly once however many processes ask at the same moment: a caller that finds
/// no live record takes <c>.sandgrain/launch/&lt;helper&gt;.lock</c>, looks again, spawns the helper (without a
/// shell; it inherits the app's sandbox) and waits — on registry events — for its record.
/// </summary>
/// <remarks>
/// Seed 001: shared helpers are command-line tools launched on demand by whichever process needs them first.
/// Children started with posix_spawn/NSTask inherit the parent's sandbox (sandbox-facts §5).
/// </remarks>
internal sealed class HelperLauncher
{
    /// <summary>The folder under <c>.sandgrain</c> holding the per-helper launch locks.</summary>
    public const string LaunchFolder = "launch";

    /// <summary>The folder under <c>.sandgrain</c> holding each helper's singleton lock.</summary>
    public const string InstanceFolder = "helpers";

    private const int StderrTailLines = 20;

    private readonly GroupContainer _container;
    private readonly SiloRegistry _registry;
    private readonly IReadOnlyDictionary<string, HelperOptions> _helpers;
    private readonly ILogger _logger;
    private readonly string _appDirectory;
    private readonly TimeProvider _time;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StartHistory> _history = new(StringComparer.Ordinal);

    /// <summary>Creates a launcher for a helper catalog.</summary>
    /// <param name="container">The group container.</param>
    /// <param name="registry">The registry helpers publish their records in.</param>
    /// <param name="helpers">The helper catalog.</param>
    /// <param name="logger">Where launches are logged.</param>
    /// <param name="appDirectory">The folder relative executables are resolved against; default the app's own.</param>
    /// <param name="timeProvider">
    /// The clock of the restart policy (<see cref="HelperOptions.RestartWindow"/>); default <see cref="TimeProvider.System"/>.
    /// Start timeouts bound real processes and always run on real time.
    /// </param>
    /// <exception cref="ArgumentException">A catalog entry is invalid; the message says what to change.</exception>
    public HelperLauncher(GroupContainer container, SiloRegistry registry, IReadOnlyDictionary<string, HelperOptions> helpers, ILogger<HelperLauncher>? logger = null, string? appDirectory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(container);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(helpers);
        foreach (var (name, options) in helpers)
        {
            if (options.Validate(name) is { } problem)
            {
                throw new ArgumentException(problem, nameof(helpers));
            }
        }

        _container = container;
        _registry = registry;
        _helpers = helpers;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _appDirectory = appDirectory ?? AppContext.BaseDirectory;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>True for a helper name that can name files: 1–64 of ASCII letters, digits, '.', '_', '-'.</summary>
    public static bool IsValidHelperName(string? name) =>
        name is { Length: > 0 and <= 64 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') && name is not ("." or "..");

    /// <summary>
    /// Claims the right to run as <paramref name="helper"/> in this container: null when another instance holds
    /// it. A helper started twice (by hand, or in a race) exits when this returns null.
    /// </summary>
    public static FileLock? TryClaimHelperInstance(GroupContainer container, string helper)
    {
        ArgumentNullException.ThrowIfNull(container);
        if (!IsValidHelperName(helper))
        {
            throw new ArgumentException($"Helper name '{helper}' is malformed.", nameof(helper));
        }

        return FileLock.TryAcquire(InstanceLockPath(container, helper));
    }

    /// <summary>
    /// Returns the live record of <paramref name="helper"/>, starting the helper first if none is live.
    /// </summary>
    /// <exception cref="ArgumentException">The helper is not in the catalog.</exception>
    /// <exception cref="HelperStartException">The helper could not be found, crashed during start, or did not register within its start timeout.</exception>
    public async Task<SiloRecord> EnsureRunningAsync(string helper, CancellationToken cancellationToken = default)
    {
        if (!_helpers.TryGetValue(helper, out var options))
        {
            throw new ArgumentException($"No helper named '{helper}' is configured; add it under Sandgrain:Helpers:{helper} (Executable, ActorTypes).", nameof(helper));
        }

        if (FindLive(helper) is { } running)
        {
            return running;
        }

        var started = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        using var changes = new RegistryChangeSignal(_registry);
        FileLock launchLock;
        try
        {
            // Whoever holds the launch lock is starting the helper: its record may appear before the lock is free.
            var (taken, up) = await AcquireOrFindAsync(Path.Combine(_container.GetSandgrainFolder(LaunchFolder), helper + ".lock"), helper, changes, timeout.Token).ConfigureAwait(false);
            if (up is not null)
            {
                return up;
            }

            launchLock = taken!;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HelperStartException(helper, $"Helper '{helper}' did not start within {options.StartTimeout.TotalSeconds:0.#} s: another process holds its launch lock and no record appeared (Sandgrain:Helpers:{helper}:StartTimeout).", []);
        }

        using (launchLock)
        {
            var history = _history.GetOrAdd(helper, _ => new StartHistory(_time));
            while (true)
            {
                // A previous instance that said goodbye and removed its record may still be finishing its shutdown,
                // and one started by hand (or left by a launcher that gave up) may be about to register: a new one
                // started now would find the instance lock taken and exit. Wait for the lock, or for its record.
                FileLock instance;
                try
                {
                    var (taken, up) = await AcquireOrFindAsync(InstanceLockPath(_container, helper), helper, changes, timeout.Token).ConfigureAwait(false);
                    if (up is not null)
                    {
                        return up;
                    }

                    instance = taken!;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new HelperStartException(helper, $"Helper '{helper}' did not start within {options.StartTimeout.TotalSeconds:0.#} s: a previous instance has no live record but still holds its instance lock (it is shutting down, or hangs doing so) (Sandgrain:Helpers:{helper}:StartTimeout).", []);
                }

                instance.Dispose();
                _registry.Reap();
                history.ThrowIfLooping(helper, options);
                if (await LaunchAsync(helper, options, history, started, timeout.Token, cancellationToken).ConfigureAwait(false) is { } record)
                {
                    return record;
                }

                // It exited because another instance took the instance lock first: go back to waiting for that one.
            }
        }
    }

    /// <summary>Every path where <paramref name="executable"/> is looked for, in order.</summary>
    internal IReadOnlyList<string> CandidatePaths(string executable)
    {
        if (Path.IsPathRooted(executable))
        {
            return [executable];
        }

        var candidates = new List<string> { Path.GetFullPath(Path.Combine(_appDirectory, executable)) };
        var dir = new DirectoryInfo(_appDirectory.TrimEnd('/'));
        if (dir.Name == "MacOS" && dir.Parent is { Name: "Contents" } contents)
        {
            // Inside an app bundle: helpers belong in Contents/MacOS or Contents/Helpers.
            candidates.Add(Path.Combine(contents.FullName, "MacOS", executable));
            candidates.Add(Path.Combine(contents.FullName, "Helpers", executable));
        }

        return candidates.Distinct(StringComparer.Ordinal).ToList();
    }

    private static string InstanceLockPath(GroupContainer container, string helper) => Path.Combine(container.GetSandgrainFolder(InstanceFolder), helper + ".lock");

    private SiloRecord? FindLive(string helper) => _registry.LiveSilos().FirstOrDefault(r => r.Helper == helper);

    /// <summary>
    /// Takes the lock at <paramref name="path"/>, or returns a live record of <paramref name="helper"/> as soon as one
    /// appears while waiting for it: whoever holds the lock may have started the helper long before it lets go.
    /// </summary>
    private async Task<(FileLock? Lock, SiloRecord? Live)> AcquireOrFindAsync(string path, string helper, RegistryChangeSignal changes, CancellationToken cancellationToken)
    {
        var changed = changes.Arm();
        if (FindLive(helper) is { } up)
        {
            return (null, up);
        }

        var delay = 1;
        while (true)
        {
            if (FileLock.TryAcquire(path) is { } taken)
            {
                return (taken, null);
            }

            if (changed.IsCompleted)
            {
                changed = changes.Arm();
                if (FindLive(helper) is { } appeared)
                {
                    return (null, appeared);
                }
            }

            // The lock is polled (a free lock raises no event), the registry looked at only when it changed.
            await Task.WhenAny(changed, Task.Delay(delay, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            delay = Math.Min(delay * 2, 20);
        }
    }

    /// <summary>
    /// Spawns the helper and waits for the record of that very launch (its silo id). Returns null when the helper
    /// exited because another instance holds the instance lock and that one has no live record yet.
    /// </summary>
    private async Task<SiloRecord?> LaunchAsync(string helper, HelperOptions options, StartHistory history, Stopwatch started, CancellationToken timeout, CancellationToken caller)
    {
        var paths = CandidatePaths(options.Executable);
        var executable = paths.FirstOrDefault(File.Exists)
            ?? throw new HelperStartException(helper, $"Helper '{helper}': executable '{options.Executable}' was not found. Paths tried: {string.Join(", ", paths)}. Set Sandgrain:Helpers:{helper}:Executable.", paths);

        var siloId = SiloRecord.NewSiloId();
        var start = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Path.GetDirectoryName(executable),
        };
        foreach (var argument in options.Arguments)
        {
            start.ArgumentList.Add(argument);
        }

        new LaunchEnvironment(_container.Path, _container.GroupId.Value, helper, siloId, options.IdleTimeout).ApplyTo(start.Environment);
        DiscoveryLog.Launching(_logger, helper, executable, siloId);

        var stderr = new Queue<string>();
        Process? process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (stderr)
            {
                stderr.Enqueue(e.Data);
                if (stderr.Count > StderrTailLines)
                {
                    stderr.Dequeue();
                }
            }
        };
        process.OutputDataReceived += (_, _) => { };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new HelperStartException(helper, $"Helper '{helper}' could not be started from '{executable}': {e.Message}", paths, inner: e);
        }

        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        using var watch = CancellationTokenSource.CreateLinkedTokenSource(timeout);
        // This launch's record, not any record with the helper's name: the instance just killed can look alive.
        var registered = _registry.WaitForAsync(r => r.SiloId == siloId, watch.Token);
        var exited = process.WaitForExitAsync(watch.Token);
        try
        {
            var first = await Task.WhenAny(registered, exited).ConfigureAwait(false);
            if (first == registered && registered.IsCompletedSuccessfully)
            {
                var record = registered.Result;
                DiscoveryLog.Launched(_logger, helper, record.ProcessId, started.Elapsed.TotalMilliseconds);

                // Keep draining the helper's output while this process lives, so its writes never block on a
                // full pipe; the Process is released when the helper exits.
                var child = process;
                child.Exited += (_, _) =>
                {
                    history.Exited(child.ExitCode, Snapshot(stderr));
                    child.Dispose();
                };
                process = null;
                return record;
            }

            caller.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                // It may have exited because another instance already runs (started by hand, or in a race).
                if (FindLive(helper) is { } other)
                {
                    return other;
                }

                process.WaitForExit(); // flush the stderr reader
                if (FileLock.IsHeldExclusively(InstanceLockPath(_container, helper)))
                {
                    // That other instance has not registered yet: not a crash of this one.
                    DiscoveryLog.InstanceTaken(_logger, helper, process.ExitCode);
                    return null;
                }

                history.Exited(process.ExitCode, Snapshot(stderr));
                throw new HelperStartException(helper, $"Helper '{helper}' ({executable}) exited with code {process.ExitCode} before it registered. Last stderr lines:{Tail(stderr)}", paths, process.ExitCode, Snapshot(stderr));
            }

            process.Kill(entireProcessTree: true);

            // Report only once it is really gone, so a caller that retries never races a half-dead helper.
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
            history.Exited(process.ExitCode, Snapshot(stderr));
            throw new HelperStartException(helper, $"Helper '{helper}' ({executable}) did not register within {options.StartTimeout.TotalSeconds:0.#} s and was stopped (Sandgrain:Helpers:{helper}:StartTimeout). Last stderr lines:{Tail(stderr)}", paths, null, Snapshot(stderr));
        }
        finally
        {
            await watch.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(registered, exited).ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            process?.Dispose();
        }
    }

    /// <summary>Recent crashes of one helper (non-zero exits, failed starts), for the restart policy.</summary>
    private sealed class StartHistory
    {
        private readonly Queue<(DateTimeOffset At, int ExitCode, IReadOnlyList<string> Stderr)> _crashes = new();
        private readonly Lock _lock = new();
        private readonly TimeProvider _time;

        internal StartHistory(TimeProvider time) => _time = time;

        /// <summary>Records an exit; a clean exit (code 0, e.g. the idle timeout) is not a crash.</summary>
        internal void Exited(int exitCode, IReadOnlyList<string> stderr)
        {
            if (exitCode == 0)
            {
                return;
            }

            lock (_lock)
            {
                _crashes.Enqueue((_time.GetUtcNow(), exitCode, stderr));
            }
        }

        internal void ThrowIfLooping(string helper, HelperOptions options)
        {
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                while (_crashes.Count > 0 && now - _crashes.Peek().At > options.RestartWindow)
                {
                    _crashes.Dequeue();
                }

                if (_crashes.Count < options.MaxCrashes)
                {
                    return;
                }

                var retry = _crashes.Peek().At + options.RestartWindow - now;
                var last = _crashes.Last();
                throw new HelperStartException(
                    helper,
                    $"Helper '{helper}' crashed {_crashes.Count} times in the last {options.RestartWindow.TotalSeconds:0.#} s (exit codes: {string.Join(", ", _crashes.Select(c => c.ExitCode))}); calls fail at once for another {Math.Max(retry.TotalSeconds, 0):0.#} s instead of starting it again (Sandgrain:Helpers:{helper}:MaxCrashes / RestartWindow). Last stderr lines:{(last.Stderr.Count == 0 ? " (none)" : "\n  " + string.Join("\n  ", last.Stderr))}",
                    [],
                    last.ExitCode,
                    last.Stderr);
            }
        }
    }

    private static IReadOnlyList<string> Snapshot(Queue<string> lines)
    {
        lock (lines)
        {
            return lines.ToList();
        }
    }

    private static string Tail(Queue<string> lines)
    {
        var tail = Snapshot(lines);
        return tail.Count == 0 ? " (none)" : "\n  " + string.Join("\n  ", tail);
    }
}
