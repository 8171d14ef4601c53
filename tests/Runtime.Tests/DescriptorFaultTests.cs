using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// A flood of silent connections against a silo allowed few descriptors: it runs out, keeps serving the
/// connections it has, says so once per run of failed accepts instead of once per try, and accepts again when the
/// flood ends.
/// </summary>
public sealed class DescriptorFaultTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(60);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SiloOutOfDescriptors_KeepsServing_SaysSoOnce_AndAcceptsAgainAfterwards()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/usr/bin/prlimit"), "limits the silo's descriptors with prlimit(1) (Linux, util-linux)");
        using var container = new TestContainer();
        // A handshake budget larger than the descriptors: the flood runs the silo out of descriptors before the
        // budget would drop any of it (with the default budget it never runs out).
        using var captured = CapturedProcess.Start("/usr/bin/prlimit", new[] { "--nofile=256", Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo") }.Concat(TestClients.Arguments(container, "unix", "--Sandgrain:MaxPendingHandshakes=2000")));
        var silo = captured.Process;
        var flood = new List<Socket>();
        var exitCode = -1;
        try
        {
            var ready = await silo.StandardOutput.ReadLineAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.StartsWith("READY", ready, StringComparison.Ordinal);
            var siloPid = int.Parse(ready!["READY ".Length..], System.Globalization.CultureInfo.InvariantCulture);
            using var client = await TestClients.StartAsync(TestClients.Arguments(container, "unix"));
            var counter = client.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("kept");
            Assert.Equal(1, await counter.Add(1));
            var baseline = Descriptors(siloPid);

            using var registry = new SiloRegistry(container.Container);
            var address = TransportAddress.Parse(registry.LiveSilos().Single(r => r.ProcessId != Environment.ProcessId).Addresses.Single());
            var path = ((UnixSocketEndPoint)new UnixSocketTransport(container.Container).CreateEndPoint(address)).Path;
            for (var i = 0; i < 600; i++)
            {
                var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await raw.ConnectAsync(new UnixDomainSocketEndPoint(path), Token).AsTask().WaitAsync(TimeSpan.FromSeconds(2), Token);
                    flood.Add(raw);
                }
                catch (Exception e) when (e is SocketException or TimeoutException)
                {
                    // The silo's backlog is full: the flood is as large as it gets.
                    raw.Dispose();
                    break;
                }
            }

            output.WriteLine($"{flood.Count} silent connections open");

            // The connection it has still works while it cannot accept.
            Assert.Equal(2, await counter.Add(1));

            foreach (var raw in flood)
            {
                raw.Dispose();
            }

            flood.Clear();

            // And a new group member gets in once the flood is gone, that is once the silo has let go of enough of the
            // flood's descriptors (each ends when its peer's hang-up is read) to be under its headroom again (256 less
            // the reserve of 64, with room for the new connection's own): wait for that, not for a time.
            await WaitForDescriptorsAsync(siloPid, atMost: Math.Max(baseline, 256 - 64 - 16));
            using var late = await TestClients.StartAsync(TestClients.Arguments(container, "unix"));
            Assert.Equal(3, await late.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("kept").Add(1));
            await late.StopAsync(Token);
            await client.StopAsync(Token);
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
            silo.StandardInput.Close();
            if (!silo.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                silo.Kill();
            }

            exitCode = silo.ExitCode;
            output.WriteLine($"silo exit code: {silo.ExitCode}");
            output.WriteLine(captured.Stderr);
        }

        var log = captured.Stderr;

        var lines = log.Split('\n');
        var refusing = lines.Count(l => l.Contains("(RLIMIT_NOFILE)", StringComparison.Ordinal) || l.Contains("failed (TooManyOpenSockets", StringComparison.Ordinal));
        var again = lines.Count(l => l.Contains("again after", StringComparison.Ordinal));
        Assert.True(refusing >= 1, "the silo never came near its descriptor limit: the test proves nothing");
        Assert.True(refusing <= again + 1, $"{refusing} warnings about refused or failed accepts for {again} recoveries: one per episode, not one per connection");
        Assert.DoesNotContain("Out of memory", log, StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
    }

    private static int Descriptors(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    /// <summary>Waits until the process has at most <paramref name="atMost"/> descriptors open (it releases them as it reads the hang-ups).</summary>
    private static async Task WaitForDescriptorsAsync(int pid, int atMost)
    {
        var waited = Stopwatch.StartNew();
        while (Descriptors(pid) > atMost)
        {
            Assert.True(waited.Elapsed < Unexpected, $"the silo still holds {Descriptors(pid)} descriptors {Unexpected.TotalSeconds} s after the flood ended; it accepts again below {atMost}");
            await Task.Delay(10, Token);
        }
    }
}
