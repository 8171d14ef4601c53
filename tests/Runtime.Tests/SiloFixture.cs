using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// A TestSilo process hosting the test actors, and a client silo in this process, both in a fresh group
/// container and using one transport.
/// </summary>
public abstract class SiloFixture : IAsyncLifetime
{
    private Process? _silo;
    private IHost? _client;

    protected abstract string TransportName { get; }

    /// <summary>More configuration for the TestSilo process (limits, timeouts).</summary>
    protected virtual string[] ExtraSiloArguments => [];

    public string TransportScheme => TransportName;

    public TestContainer Container { get; } = new();

    public IActorFactory Factory => _client!.Services.GetRequiredService<IActorFactory>();

    public int SiloProcessId => _silo!.Id;

    public string SiloStderr { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        // Short enough for the collection tests, long enough that a loaded machine's pause between two calls of
        // one test does not collect (and reset) the activation they use.
        (_silo, _) = await StartSiloProcessAsync(["--Sandgrain:ActivationIdleTimeout=00:00:03", .. ExtraSiloArguments], "READY", stderr => SiloStderr += stderr);

        _client = await TestClients.StartAsync(SandgrainArguments().ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }

        if (_silo is { HasExited: false })
        {
            _silo.Kill();
            await _silo.WaitForExitAsync();
        }

        _silo?.Dispose();
        Container.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts a TestSilo process that subscribes an observer of its own to a publisher actor, and waits until it has.</summary>
    public async Task<Process> StartSubscriberAsync(string publisherKey)
    {
        var (process, _) = await StartSiloProcessAsync(["--Test:SubscribeTo=" + publisherKey], "SUBSCRIBED", _ => { });
        return process;
    }

    private async Task<(Process Process, string Line)> StartSiloProcessAsync(string[] extra, string expected, Action<string> stderr)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in SandgrainArguments().Concat(extra))
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                errors.AppendLine(e.Data);
            }

            stderr(e.Data + "\n");
        };
        process.BeginErrorReadLine();
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null)
            {
                throw new InvalidOperationException($"TestSilo exited before printing {expected}: {errors}");
            }

            if (line.StartsWith(expected, StringComparison.Ordinal))
            {
                // Keep draining stdout: a process whose pipe fills up blocks on its next write.
                _ = Task.Run(async () =>
                {
                    while (await process.StandardOutput.ReadLineAsync() is not null)
                    {
                    }
                });
                return (process, line);
            }
        }
    }

    private IEnumerable<string> SandgrainArguments() =>
    [
        "--Sandgrain:GroupId=" + TestContainer.GroupIdText,
        "--Sandgrain:ContainerPath=" + Container.Container.Path,
        "--Sandgrain:Transports:0=" + TransportName,
    ];
}

public sealed class UnixSiloFixture : SiloFixture
{
    protected override string TransportName => "unix";
}

public sealed class SharedMemorySiloFixture : SiloFixture
{
    protected override string TransportName => "shm";
}

/// <summary>A TestSilo with small limits, for the fault tests that reach them.</summary>
public abstract class LimitedSiloFixture : SiloFixture
{
    public const int MaxConnections = 6;
    public const int MaxInFlight = 4;
    public const int MaxActivations = 20;
    public const int MaxPendingHandshakes = 4;

    protected override string[] ExtraSiloArguments =>
    [
        "--Sandgrain:MaxConnections=" + MaxConnections,
        "--Sandgrain:MaxInFlightRequestsPerConnection=" + MaxInFlight,
        "--Sandgrain:MaxActivations=" + MaxActivations,
        "--Sandgrain:MaxPendingHandshakes=" + MaxPendingHandshakes,
        "--Sandgrain:HandshakeTimeout=00:00:02",
    ];
}

public sealed class UnixLimitedSiloFixture : LimitedSiloFixture
{
    protected override string TransportName => "unix";
}

public sealed class SharedMemoryLimitedSiloFixture : LimitedSiloFixture
{
    protected override string TransportName => "shm";
}

/// <summary>A TestSilo that closes a connection whose peer reads nothing for 3 s and queues at most 16 MiB per connection.</summary>
public abstract class StallSiloFixture : SiloFixture
{
    public const int SendStallSeconds = 3;

    public const int MaxQueuedBytes = 16 << 20;

    protected override string[] ExtraSiloArguments => ["--Sandgrain:SendStallTimeout=00:00:0" + SendStallSeconds, "--Sandgrain:MaxQueuedBytesPerConnection=" + MaxQueuedBytes];
}

public sealed class UnixStallSiloFixture : StallSiloFixture
{
    protected override string TransportName => "unix";
}

public sealed class SharedMemoryStallSiloFixture : StallSiloFixture
{
    protected override string TransportName => "shm";
}
