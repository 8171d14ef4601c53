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

    public string TransportScheme => TransportName;

    public TestContainer Container { get; } = new();

    public IActorFactory Factory => _client!.Services.GetRequiredService<IActorFactory>();

    public int SiloProcessId => _silo!.Id;

    public string SiloStderr { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in SandgrainArguments().Append("--Sandgrain:ActivationIdleTimeout=00:00:01"))
        {
            start.ArgumentList.Add(a);
        }

        _silo = Process.Start(start)!;
        _silo.ErrorDataReceived += (_, e) => SiloStderr += e.Data + "\n";
        _silo.BeginErrorReadLine();
        var ready = await _silo.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (ready?.StartsWith("READY", StringComparison.Ordinal) != true)
        {
            throw new InvalidOperationException($"TestSilo did not start: '{ready}' {SiloStderr}");
        }

        var builder = Host.CreateApplicationBuilder(SandgrainArguments().ToArray());
        builder.Logging.ClearProviders();
        builder.Services.AddSandgrainUnixSocketTransport(o => o.UnsafePreferInlineScheduling = true);
        builder.Services.AddSandgrainSharedMemoryTransport(o => o.UnsafePreferInlineScheduling = true);
        builder.UseSandgrain();
        _client = builder.Build();
        await _client.StartAsync();
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
