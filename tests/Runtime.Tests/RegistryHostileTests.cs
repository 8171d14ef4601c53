using System.Diagnostics;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// What another member of the group (or any process of the user) can put in <c>registry/</c>: a FIFO, a link to a
/// FIFO or to <c>/dev/zero</c>, a link to someone else's record. Listing the registry never waits on any of them,
/// skips each with one warning, and still lists the live silos.
/// </summary>
public sealed class RegistryHostileTests : IDisposable
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(10);
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FifosAndLinksInTheRegistry_AreSkippedWithAWarning_WithoutWaiting()
    {
        var logger = new CapturingLogger<SiloRegistry>();
        using var registry = new SiloRegistry(_container.Container, logger);
        using var live = registry.Publish(new SiloRecord
        {
            SiloId = SiloRecord.NewSiloId(),
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = 1,
            ActorTypes = ["IDeviceActor"],
            Addresses = ["unix:s/abcd1234"],
        });
        var folder = registry.Path;
        var fifo = Path.Combine(folder, SiloRecord.NewSiloId() + ".json");
        MakeFifo(fifo);
        File.CreateSymbolicLink(Path.Combine(folder, SiloRecord.NewSiloId() + ".json"), fifo);
        File.CreateSymbolicLink(Path.Combine(folder, SiloRecord.NewSiloId() + ".json"), "/dev/zero");
        File.CreateSymbolicLink(Path.Combine(folder, SiloRecord.NewSiloId() + ".json"), Path.Combine(folder, live.Record.SiloId + ".json"));

        var listed = await Task.Run(() => registry.Snapshot(), Token).WaitAsync(Unexpected, Token);

        Assert.Equal(live.Record.SiloId, Assert.Single(listed).Record.SiloId);
        var warnings = logger.Entries.Select(e => e.Message).ToList();
        Assert.Single(warnings, w => w.Contains(Path.GetFileName(fifo), StringComparison.Ordinal) && w.Contains("not a regular file", StringComparison.Ordinal));
        Assert.Equal(3, warnings.Count(w => w.Contains("symbolic link", StringComparison.Ordinal)));

        // One warning per file, not one per listing.
        await Task.Run(() => registry.Snapshot(), Token).WaitAsync(Unexpected, Token);
        Assert.Equal(warnings.Count, logger.Entries.Count);
        Assert.Single(registry.LiveSilos());
    }

    public void Dispose() => _container.Dispose();

    /// <summary>A FIFO made by <c>mkfifo(1)</c>, as a hostile member would.</summary>
    internal static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path])!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}
