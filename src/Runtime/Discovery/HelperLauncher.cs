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
internal sealed partial class HelperLauncher
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
