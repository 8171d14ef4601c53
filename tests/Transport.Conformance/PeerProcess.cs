using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit;

namespace Sandgrain.Transport.Conformance;

/// <summary>
/// A real second process (the TestPeer executable) for cross-process tests. Its stdout and stderr go into
/// the test log; it is killed when disposed.
/// </summary>
public sealed class PeerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper? _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private PeerProcess(Process process, ITestOutputHelper? log)
    {
        _process = process;
        _log = log;
    }

    /// <summary>The peer's process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>What the peer wrote to stderr so far.</summary>
    public string StandardError => string.Join('\n', _stderr);

    /// <summary>Starts the peer executable with <paramref name="arguments"/>.</summary>
    public static PeerProcess Start(ITestOutputHelper? log, params string[] arguments)
    {
        var start = new ProcessStartInfo(PeerExecutable())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var peer = new PeerProcess(process, log);
        process.OutputDataReceived += (_, e) => peer.OnLine(e.Data, "out");
        process.ErrorDataReceived += (_, e) => peer.OnLine(e.Data, "err");
        process.Exited += (_, _) => peer._ready.TrySetException(new InvalidOperationException($"The test peer exited with code {process.ExitCode} before it was ready: {peer.StandardError}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return peer;
    }

    /// <summary>Waits for the peer's READY line.</summary>
    public Task WaitForReadyAsync() => _ready.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

    /// <summary>The first line the peer prints (after READY) that starts with <paramref name="prefix"/>; earlier other lines are skipped.</summary>
    public async Task<string> WaitForLineAsync(string prefix)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            while (_stdout.TryDequeue(out var line))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }

            try
            {
                await _lineArrived.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The test peer printed no line starting with '{prefix}' within 30 s; its stderr: {StandardError}");
            }
        }
    }

    /// <summary>Writes one line to the peer's stdin.</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Kills the peer with SIGKILL, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }
    }

    /// <summary>Waits for the process to exit.</summary>
    public Task WaitForExitAsync() => _process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Kills the peer if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    private static string PeerExecutable()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestPeer");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The test peer executable is missing at '{path}'; the test project must reference tests/TestPeer.", path);
        }

        return path;
    }

    private void OnLine(string? line, string stream)
    {
        if (line is null)
        {
            return;
        }

        if (stream == "err")
        {
            _stderr.Enqueue(line);
        }

        if (stream == "out" && line == "READY")
        {
            _ready.TrySetResult();
        }
        else if (stream == "out")
        {
            _stdout.Enqueue(line);
            _lineArrived.Release();
        }

        try
        {
            _log?.WriteLine($"[peer {_process.Id} {stream}] {line}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished; its log is closed.
        }
    }
}
