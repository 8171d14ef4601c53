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
public sealed class HelperLauncher
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
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StartHistory> _history = new(StringComparer.Ordinal);

    /// <summary>Creates a launcher for a helper catalog.</summary>
    /// <exception cref="ArgumentException">A catalog entry is invalid; the message says what to change.</exception>
    public HelperLauncher(GroupContainer container, SiloRegistry registry, IReadOnlyDictionary<string, HelperOptions> helpers, ILogger<HelperLauncher>? logger = null, string? appDirectory = null)
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

        return FileLock.TryAcquire(Path.Combine(container.GetSandgrainFolder(InstanceFolder), helper + ".lock"));
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
        FileLock launchLock;
        try
        {
            launchLock = await FileLock.AcquireAsync(Path.Combine(_container.GetSandgrainFolder(LaunchFolder), helper + ".lock"), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HelperStartException(helper, $"Helper '{helper}' did not start within {options.StartTimeout.TotalSeconds:0.#} s: another process holds its launch lock and no record appeared (Sandgrain:Helpers:{helper}:StartTimeout).", []);
        }

        using (launchLock)
        {
            // Whoever held the lock before may have started it.
            if (FindLive(helper) is { } startedByOther)
            {
                return startedByOther;
            }

            // A previous instance that said goodbye and removed its record may still be finishing its shutdown;
            // a new one started now would find the instance lock taken and exit. Wait for the old one to let go.
            try
            {
                using var previous = await FileLock.AcquireAsync(Path.Combine(_container.GetSandgrainFolder(InstanceFolder), helper + ".lock"), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new HelperStartException(helper, $"Helper '{helper}' did not start within {options.StartTimeout.TotalSeconds:0.#} s: a previous instance has no live record but still holds its instance lock (it is shutting down, or hangs doing so) (Sandgrain:Helpers:{helper}:StartTimeout).", []);
            }

            if (FindLive(helper) is { } startedByHand)
            {
                return startedByHand;
            }

            _registry.Reap();
            var history = _history.GetOrAdd(helper, _ => new StartHistory());
            history.ThrowIfLooping(helper, options);
            return await LaunchAsync(helper, options, history, started, timeout.Token, cancellationToken).ConfigureAwait(false);
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

    private SiloRecord? FindLive(string helper) => _registry.LiveSilos().FirstOrDefault(r => r.Helper == helper);

    private async Task<SiloRecord> LaunchAsync(string helper, HelperOptions options, StartHistory history, Stopwatch started, CancellationToken timeout, CancellationToken caller)
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
        var registered = _registry.WaitForAsync(r => r.SiloId == siloId || r.Helper == helper, watch.Token);
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
                // It may have exited because another instance already runs (started by hand).
                if (FindLive(helper) is { } other)
                {
                    return other;
                }

                process.WaitForExit(); // flush the stderr reader
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
        private readonly Queue<(DateTime At, int ExitCode, IReadOnlyList<string> Stderr)> _crashes = new();
        private readonly Lock _lock = new();

        /// <summary>Records an exit; a clean exit (code 0, e.g. the idle timeout) is not a crash.</summary>
        internal void Exited(int exitCode, IReadOnlyList<string> stderr)
        {
            if (exitCode == 0)
            {
                return;
            }

            lock (_lock)
            {
                _crashes.Enqueue((DateTime.UtcNow, exitCode, stderr));
            }
        }

        internal void ThrowIfLooping(string helper, HelperOptions options)
        {
            lock (_lock)
            {
                var now = DateTime.UtcNow;
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
