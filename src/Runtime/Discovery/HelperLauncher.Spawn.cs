using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Discovery;

/// <summary>Spawning a helper and waiting for its own record; the restart policy's memory of its crashes.</summary>
internal sealed partial class HelperLauncher
{
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
        HelperHeapSettings.ApplyTo(start.Environment, options.Heap, executable);
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
}
