using System.Text;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

public sealed class RegistryTests : IDisposable
{
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static SiloRecord NewRecord(string? helper = null) => new()
    {
        SiloId = SiloRecord.NewSiloId(),
        Helper = helper,
        ProcessId = Environment.ProcessId,
        StartTime = DateTimeOffset.UtcNow,
        ProtocolVersion = 1,
        ActorTypes = ["IDeviceActor"],
        Addresses = ["unix:s/abcd1234"],
    };

    [Fact]
    public void Publish_MakesALiveRecord_DisposeRemovesIt()
    {
        using var registry = new SiloRegistry(_container.Container);
        var record = NewRecord("DeviceHub");
        using (var registration = registry.Publish(record))
        {
            var entry = Assert.Single(registry.Snapshot());
            Assert.True(entry.IsAlive);
            Assert.Equal(record.SiloId, entry.Record.SiloId);
            Assert.Equal(["IDeviceActor"], entry.Record.ActorTypes);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(registry.Path, record.SiloId + ".json")));
            Assert.Empty(Directory.GetFiles(registry.Path, "*.tmp"));

            registration.Update(record with { Addresses = ["unix:s/abcd1234", "shm:abcd1234"] });
            Assert.Equal(2, registry.LiveSilos().Single().Addresses.Count);
        }

        Assert.Empty(registry.Snapshot());
        Assert.Empty(Directory.GetFiles(registry.Path));
    }

    [Fact]
    public void BadRecords_AreSkipped_WithOneWarningEach()
    {
        var logger = new CapturingLogger<SiloRegistry>();
        using var registry = new SiloRegistry(_container.Container, logger);
        using var good = registry.Publish(NewRecord());
        var folder = registry.Path;
        File.WriteAllText(Path.Combine(folder, "garbage.json"), "this is not json {{{");
        File.WriteAllText(Path.Combine(folder, "truncated.json"), "{\"schema\":1,\"id\":\"00112233445566");
        File.WriteAllBytes(Path.Combine(folder, "huge.json"), Encoding.UTF8.GetBytes("{\"x\":\"" + new string('a', SiloRegistry.MaxRecordBytes) + "\"}"));
        var future = NewRecord();
        File.WriteAllText(Path.Combine(folder, future.SiloId + ".json"), $"{{\"schema\":99,\"id\":\"{future.SiloId}\",\"pid\":1}}");

        for (var i = 0; i < 3; i++)
        {
            var entry = Assert.Single(registry.Snapshot());
            Assert.Equal(good.Record.SiloId, entry.Record.SiloId);
        }

        var warnings = logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.Equal(4, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("garbage.json", StringComparison.Ordinal) && w.Contains("does not parse", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("truncated.json", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("huge.json", StringComparison.Ordinal) && w.Contains("limit", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("schema version 99", StringComparison.Ordinal));

        // A file that changes is judged again.
        File.WriteAllText(Path.Combine(folder, "garbage.json"), "still not json, but different");
        _ = registry.Snapshot();
        Assert.Equal(5, logger.Entries.Count(e => e.Level == LogLevel.Warning));
    }

    [Fact]
    public void TwoContainers_NeverSeeEachOthersSilos()
    {
        using var other = new TestContainer();
        using var first = new SiloRegistry(_container.Container);
        using var second = new SiloRegistry(other.Container);
        using var a = first.Publish(NewRecord("A"));
        using var b = second.Publish(NewRecord("B"));
        Assert.Equal("A", Assert.Single(first.LiveSilos()).Helper);
        Assert.Equal("B", Assert.Single(second.LiveSilos()).Helper);
    }

    [Fact]
    public async Task WaitForAsync_IsWokenByAPublishInAnotherRegistryObject()
    {
        using var reader = new SiloRegistry(_container.Container);
        using var writer = new SiloRegistry(_container.Container);
        var record = NewRecord("Late");
        var waiting = reader.WaitForAsync(r => r.Helper == "Late", Token);
        await Task.Delay(50, Token);
        Assert.False(waiting.IsCompleted);
        using var registration = writer.Publish(record);
        Assert.Equal(record.SiloId, (await waiting.WaitAsync(TimeSpan.FromSeconds(10), Token)).SiloId);
    }

    [Fact]
    public async Task KilledSilo_IsStale_AndReapRemovesRecordLockAndSocketFile()
    {
        using var registry = new SiloRegistry(_container.Container, transports: [new Sandgrain.Transport.UnixSocket.UnixSocketTransport(_container.Container)]);
        var helpers = new Dictionary<string, HelperOptions> { ["Victim"] = new() { Executable = Programs.TestHelper, Arguments = ["serve"] } };
        var launcher = new HelperLauncher(_container.Container, registry, helpers);
        var record = await launcher.EnsureRunningAsync("Victim", Token);
        var socketFile = Path.Combine(_container.Container.GetSandgrainFolder("s"), record.SiloId[..8]);
        using (var left = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            // A socket file nobody listens on any more, as a killed silo leaves it.
            left.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketFile));
        }

        Programs.Kill(record.ProcessId);
        var entry = Assert.Single(registry.Snapshot());
        Assert.False(entry.IsAlive);
        Assert.Empty(registry.LiveSilos());

        var reaped = Assert.Single(registry.Reap());
        Assert.Equal(record.SiloId, reaped.SiloId);
        Assert.Empty(registry.Snapshot());
        Assert.False(File.Exists(socketFile));
        Assert.Empty(Directory.GetFiles(registry.Path));
    }

    [Fact]
    public void PublishingAHeldSiloId_IsRefused()
    {
        using var registry = new SiloRegistry(_container.Container);
        var record = NewRecord();
        using var first = registry.Publish(record);
        Assert.Throws<InvalidOperationException>(() => registry.Publish(record));
        Assert.Throws<ArgumentException>(() => registry.Publish(record with { SiloId = "../../etc/passwd" }));
    }

    [Fact]
    public void LaunchEnvironment_IsAllOrNothing()
    {
        var names = new[] { LaunchEnvironment.ContainerVariable, LaunchEnvironment.GroupIdVariable, LaunchEnvironment.HelperVariable, LaunchEnvironment.SiloIdVariable };
        var saved = names.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var n in names)
            {
                Environment.SetEnvironmentVariable(n, null);
            }

            Assert.Null(LaunchEnvironment.FromEnvironment());
            Environment.SetEnvironmentVariable(LaunchEnvironment.HelperVariable, "DeviceHub");
            Assert.Throws<InvalidOperationException>(LaunchEnvironment.FromEnvironment);
            Environment.SetEnvironmentVariable(LaunchEnvironment.ContainerVariable, "/tmp/x");
            Environment.SetEnvironmentVariable(LaunchEnvironment.GroupIdVariable, "group.a.b");
            Environment.SetEnvironmentVariable(LaunchEnvironment.SiloIdVariable, "0123456789abcdef");
            Assert.Equal(new LaunchEnvironment("/tmp/x", "group.a.b", "DeviceHub", "0123456789abcdef"), LaunchEnvironment.FromEnvironment());
        }
        finally
        {
            foreach (var (n, v) in saved)
            {
                Environment.SetEnvironmentVariable(n, v);
            }
        }
    }

    public void Dispose() => _container.Dispose();
}
