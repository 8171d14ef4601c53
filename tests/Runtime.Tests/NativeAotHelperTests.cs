using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>The TestSilo published with NativeAOT (once per run), for <see cref="NativeAotHelperTests"/>.</summary>
public sealed class NativeAotHelperFixture : IAsyncLifetime
{
    public string? Executable { get; private set; }

    public string? Unavailable { get; private set; }

    public string PublishLog { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        if (FindOnPath("clang") is null)
        {
            Unavailable = "the NativeAOT toolchain is missing: clang is not on PATH (.ci/run installs it with apt-get install -y clang zlib1g-dev)";
            return;
        }

        var repository = new DirectoryInfo(AppContext.BaseDirectory);
        while (repository is not null && !File.Exists(Path.Combine(repository.FullName, "Sandgrain.slnx")))
        {
            repository = repository.Parent;
        }

        var output = Path.Combine(Path.GetTempPath(), "sg-aot-" + Guid.NewGuid().ToString("N")[..8]);
        var (exit, stdout, stderr) = await Programs.RunAsync(
            "dotnet",
            TimeSpan.FromMinutes(8),
            "publish",
            Path.Combine(repository!.FullName, "tests", "TestSilo", "Sandgrain.TestSilo.csproj"),
            "-c", "Release",
            "-r", RuntimeInformation.RuntimeIdentifier,
            "-p:SandgrainAot=true",
            "-o", output);
        PublishLog = stdout + stderr;
        if (exit != 0)
        {
            throw new InvalidOperationException($"dotnet publish -p:PublishAot=true failed ({exit}):\n{PublishLog}");
        }

        Executable = Path.Combine(output, "Sandgrain.TestSilo");
    }

    public ValueTask DisposeAsync()
    {
        if (Executable is not null)
        {
            Directory.Delete(Path.GetDirectoryName(Executable)!, recursive: true);
        }

        return ValueTask.CompletedTask;
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program))
            .FirstOrDefault(File.Exists);
}

/// <summary>
/// A helper published with <c>PublishAot=true</c> is launched on the first call and serves actors, user types,
/// observers and failure exactly as a JIT one does. The publish itself runs with warnings as errors, so a trim or
/// AOT warning from Sandgrain's assemblies fails it.
/// </summary>
public sealed class NativeAotHelperTests(NativeAotHelperFixture aot) : IClassFixture<NativeAotHelperFixture>, IDisposable
{
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("unix")]
    [InlineData("shm")]
    public async Task AotHelper_ServesCallsTypesAndObservers_AndIsRelaunchedAfterKill(string transport)
    {
        if (aot.Unavailable is { } reason)
        {
            Assert.Skip(reason);
        }

        Assert.DoesNotContain("warning IL", aot.PublishLog, StringComparison.Ordinal);
        using var client = await StartClientAsync(transport);
        var factory = client.Services.GetRequiredService<IActorFactory>();
        var registry = client.Services.GetRequiredService<SiloRegistry>();

        var counter = factory.GetGrain<ICounterActor>("aot");
        Assert.Equal(3, await counter.Add(3));
        var helper = registry.LiveSilos().Single(r => r.Helper == "Aot");
        Assert.EndsWith("@" + helper.ProcessId, await counter.WhereAmI(), StringComparison.Ordinal);
        using (var process = Process.GetProcessById(helper.ProcessId))
        {
            Assert.Equal(aot.Executable, process.MainModule?.FileName);
        }

        var described = await counter.Describe(new DeviceInfo { Name = "cam", Opens = 1, Tags = ["a"] });
        Assert.Equal(("cam!", 2), (described.Name, described.Opens));
        Assert.Equal(["a", "aot"], described.Tags);
        await Assert.ThrowsAsync<InvalidOperationException>(() => counter.Fail("invalid", "from native code"));

        var publisher = factory.GetGrain<IPublisherActor>("aot");
        var observer = new Observer();
        await publisher.Subscribe(factory.CreateObjectReference<ITickObserver>(observer));
        Assert.Equal(["tick 5"], await publisher.Publish(5));

        var pending = counter.Sleep(30_000);

        // Sent after the sleep on the same connection, so its answer means the sleep is running in the helper.
        await factory.GetGrain<ICounterActor>("aot-marker").Add(1);
        Programs.Kill(helper.ProcessId);
        await Assert.ThrowsAsync<ActorUnavailableException>(() => pending).WaitAsync(TimeSpan.FromSeconds(5), Token);
        Assert.Equal(1, await factory.GetGrain<ICounterActor>("after").Add(1));
        Assert.NotEqual(helper.ProcessId, registry.LiveSilos().Single(r => r.Helper == "Aot").ProcessId);
        await client.StopAsync(Token);
    }

    public void Dispose()
    {
        TestClients.KillLiveSilos(_container);
        _container.Dispose();
    }

    private Task<IHost> StartClientAsync(string transport) => TestClients.StartAsync(TestClients.Arguments(
        _container,
        transport,
        "--Sandgrain:Helpers:Aot:Executable=" + aot.Executable,
        "--Sandgrain:Helpers:Aot:ActorTypes:0=ICounterActor",
        "--Sandgrain:Helpers:Aot:ActorTypes:1=IPublisherActor"));

    private sealed class Observer : ITickObserver
    {
        public Task<string> OnTick(int number) => Task.FromResult("tick " + number);

        public Task Notify(string message) => Task.CompletedTask;
    }
}
