using System.Text;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests.Fuzz;

/// <summary>
/// Registry records with arbitrary content (mutated real records and random bytes): a reader never throws, never
/// returns a record a caller could trip over, and keeps listing the good records beside the bad ones.
/// </summary>
public sealed class RegistryRecordFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestContainer _container = new();

    [Fact]
    public void RegistryReader_OnArbitraryRecordFiles_SkipsBadOnes_AndListsTheGoodOne()
    {
        var logger = new CapturingLogger<SiloRegistry>();
        using var registry = new SiloRegistry(_container.Container, logger);
        using var good = registry.Publish(new SiloRecord { SiloId = SiloRecord.NewSiloId(), ProcessId = Environment.ProcessId, StartTime = DateTimeOffset.UtcNow, ProtocolVersion = 1, ActorTypes = ["A.IGood"], Addresses = ["unix:s/0123abcd"] });
        var folder = Path.Combine(_container.Container.Path, ".sandgrain", "registry");
        var seeds = FuzzInputs.Corpus("records").Append(File.ReadAllBytes(Path.Combine(folder, good.Record.SiloId + ".json"))).ToArray();
        var names = new[] { "0123456789abcdef.json", "fedcba9876543210.json" };
        var turn = 0;

        var executions = FuzzInputs.Run(FuzzInputs.From(seeds, maxLength: 2048), input =>
        {
            // Written the way a hostile peer could: straight into a record file, under a well-formed name.
            File.WriteAllBytes(Path.Combine(folder, names[turn++ % names.Length]), input);
            var snapshot = registry.Snapshot();
            Assert.Contains(snapshot, e => e.Record.SiloId == good.Record.SiloId && e.IsAlive);
            foreach (var (record, _) in snapshot)
            {
                Assert.True(SiloRecord.IsValidSiloId(record.SiloId));
                Assert.NotNull(record.ActorTypes);
                Assert.NotNull(record.Addresses);
                Assert.All(record.ActorTypes, t => Assert.False(string.IsNullOrEmpty(t)));
                Assert.All(record.Addresses, a => Assert.True(Sandgrain.Transport.TransportAddress.TryParse(a, out _, out _)));
            }
        }, threads: 1);

        output.WriteLine($"registry records: {executions} executions in {FuzzInputs.Seconds} s, {logger.Entries.Count} warnings");
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning);
    }

    public void Dispose() => _container.Dispose();
}
