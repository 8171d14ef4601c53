using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Sandgrain.Runtime.Tests;

/// <summary>An ILogger that keeps what it was told, for asserting on warnings.</summary>
internal sealed class CapturingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, eventId, formatter(state, exception)));
}

/// <summary>Runs a program to completion and returns its exit code and output.</summary>
internal static class Programs
{
    public static string TestHelper => Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestHelper");

    public static string Cli => Path.Combine(AppContext.BaseDirectory, "sandgrain");

    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string executable, params string[] arguments) =>
        RunAsync(executable, TimeSpan.FromSeconds(60), arguments);

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string executable, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(timeout);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Kills a process by id if it still runs (helpers outlive the launcher that started them).</summary>
    public static void Kill(int pid)
    {
        if (pid == Environment.ProcessId)
        {
            // A client silo of this test process is registered too; it is stopped, never killed.
            return;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            process.WaitForExit(10_000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}

/// <summary>Client silos in this test process, configured from command-line style arguments.</summary>
internal static class TestClients
{
    /// <summary>The arguments that put a silo in <paramref name="container"/> on one transport.</summary>
    public static string[] Arguments(Sandgrain.Transport.Conformance.TestContainer container, string transport, params string[] more) =>
    [
        "--Sandgrain:GroupId=" + Sandgrain.Transport.Conformance.TestContainer.GroupIdText,
        "--Sandgrain:ContainerPath=" + container.Container.Path,
        "--Sandgrain:Transports:0=" + transport,
        .. more,
    ];

    /// <summary>
    /// Starts a silo in this process with both transports registered (hosting what <paramref name="configure"/> adds);
    /// <paramref name="time"/> replaces its clock, so a test advances idle collection and deadlines instead of waiting.
    /// </summary>
    public static async Task<Microsoft.Extensions.Hosting.IHost> StartAsync(string[] arguments, Action<ISandgrainBuilder>? configure = null, TimeProvider? time = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(arguments);
        builder.Logging.ClearProviders();
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Services.AddSandgrainUnixSocketTransport();
        builder.Services.AddSandgrainSharedMemoryTransport();
        builder.UseSandgrain(configure);
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    /// <summary>Kills every live silo of the container (helpers outlive the test that launched them).</summary>
    public static void KillLiveSilos(Sandgrain.Transport.Conformance.TestContainer container)
    {
        using var registry = new Sandgrain.Runtime.Discovery.SiloRegistry(container.Container);
        foreach (var record in registry.LiveSilos())
        {
            Programs.Kill(record.ProcessId);
        }
    }
}

/// <summary>A process (a TestSilo, or one wrapped in a tool such as prlimit) whose stderr is kept as it arrives.</summary>
internal sealed class CapturedProcess : IDisposable
{
    private readonly System.Text.StringBuilder _stderr = new();

    private CapturedProcess(Process process) => Process = process;

    internal Process Process { get; }

    /// <summary>What the process wrote to stderr so far.</summary>
    internal string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with stdin and stdout redirected and stderr captured.</summary>
    internal static CapturedProcess Start(string fileName, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        var captured = new CapturedProcess(Process.Start(start)!);
        captured.Process.ErrorDataReceived += (_, e) =>
        {
            lock (captured._stderr)
            {
                captured._stderr.AppendLine(e.Data);
            }
        };
        captured.Process.BeginErrorReadLine();
        return captured;
    }

    public void Dispose() => Process.Dispose();
}
