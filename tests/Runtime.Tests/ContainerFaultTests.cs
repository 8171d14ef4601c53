using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>The group container's <c>.sandgrain</c> folder removed under running silos.</summary>
public sealed class ContainerFaultTests : IDisposable
{
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("unix")]
    [InlineData("shm")]
    public async Task SandgrainFolderRemoved_WhileRunning_ConnectionsCarryOn_NewSilosRecreateIt_NothingCrashes(string transport)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo")) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in Arguments(transport))
        {
            start.ArgumentList.Add(a);
        }

        using var silo = Process.Start(start)!;
        var stderr = silo.StandardError.ReadToEndAsync(Token);
        Assert.StartsWith("READY", await silo.StandardOutput.ReadLineAsync(Token).AsTask().WaitAsync(TimeSpan.FromSeconds(60), Token), StringComparison.Ordinal);
        using var client = await StartClientAsync(transport);
        var counter = client.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("kept");
        Assert.Equal(1, await counter.Add(1));

        Directory.Delete(Path.Combine(_container.Container.Path, ".sandgrain"), recursive: true);

        // The open connection does not need the folder: its socket and mapping outlive their names.
        Assert.Equal(2, await counter.Add(1));

        // A process started now recreates the folder (0700) and finds no silo: a clear error, not a hang.
        using var late = await StartClientAsync(transport);
        var sandgrain = Path.Combine(_container.Container.Path, ".sandgrain");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(sandgrain));
        Assert.Single(Directory.GetFiles(Path.Combine(sandgrain, "registry"), "*.json"));
        var e = await Assert.ThrowsAsync<ActorNotHostedException>(() => late.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("kept").Add(1));
        Assert.Contains("No live silo hosts Sandgrain.TestActors.ICounterActor", e.Message, StringComparison.Ordinal);

        // Everyone shuts down cleanly, though their records and sockets were removed under them.
        await late.StopAsync(Token);
        await client.StopAsync(Token);
        silo.StandardInput.Close();
        await silo.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        var errors = await stderr;
        Assert.True(silo.ExitCode == 0, $"the silo exited with {silo.ExitCode}: {errors}");
        Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
    }

    public void Dispose() => _container.Dispose();

    private string[] Arguments(string transport) => TestClients.Arguments(_container, transport);

    private Task<IHost> StartClientAsync(string transport) => TestClients.StartAsync(Arguments(transport));
}
