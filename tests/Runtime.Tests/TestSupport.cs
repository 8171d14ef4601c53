using System.Collections.Concurrent;
using System.Diagnostics;
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
