using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Peers that stop reading — a SIGSTOPped process, a hostile one that sends and never reads: a call's deadline
/// covers its write, the queue behind a stalled write is bounded, a connection that makes no progress is closed, and
/// a peer cannot make a silo buffer its answers without bound.
/// </summary>
public abstract class BackPressureFaultTests(StallSiloFixture silo)
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CallToAStoppedPeer_FailsAtItsDeadline_AndTheQueueBehindItIsBounded()
    {
        using var client = await TestClients.StartAsync(TestClients.Arguments(silo.Container, silo.TransportScheme, "--Sandgrain:MaxQueuedBytesPerConnection=1048576", "--Sandgrain:SendStallTimeout=00:01:00"));
        var echo = client.Services.GetRequiredService<IActorFactory>().GetGrain<IHoldActor>("stopped-" + silo.TransportScheme);
        Assert.Single(await echo.Echo([1]));
        Signal(silo.SiloProcessId, "STOP");
        try
        {
            using (ActorCall.WithTimeout(TimeSpan.FromSeconds(1)))
            {
                // The first call's write fills every buffer between the processes and waits; the next one queues.
                var first = echo.Echo(new byte[32 << 20]);
                var second = echo.Echo(new byte[600 << 10]);
                var third = await Assert.ThrowsAsync<SandgrainLimitExceededException>(() => echo.Echo(new byte[600 << 10]));
                Assert.Contains("Sandgrain:MaxQueuedBytesPerConnection", third.Message, StringComparison.Ordinal);

                await Assert.ThrowsAsync<ActorCallTimeoutException>(() => first.WaitAsync(Unexpected, Token));
                await Assert.ThrowsAsync<ActorCallTimeoutException>(() => second.WaitAsync(Unexpected, Token));
            }
        }
        finally
        {
            Signal(silo.SiloProcessId, "CONT");
        }

        await client.StopAsync(Token);
    }

    [Fact]
    public async Task ConnectionThatMakesNoProgress_IsClosedAfterTheStallTimeout_AndTheNextCallWorks()
    {
        using var client = await TestClients.StartAsync(TestClients.Arguments(silo.Container, silo.TransportScheme, "--Sandgrain:SendStallTimeout=00:00:02"));
        var echo = client.Services.GetRequiredService<IActorFactory>().GetGrain<IHoldActor>("stall-" + silo.TransportScheme);
        Assert.Single(await echo.Echo([1]));
        Signal(silo.SiloProcessId, "STOP");
        ActorUnavailableException closed;
        try
        {
            using (ActorCall.WithTimeout(TimeSpan.FromMinutes(2)))
            {
                closed = await Assert.ThrowsAsync<ActorUnavailableException>(() => echo.Echo(new byte[32 << 20]).WaitAsync(Unexpected, Token));
            }
        }
        finally
        {
            Signal(silo.SiloProcessId, "CONT");
        }

        Assert.Contains("Sandgrain:SendStallTimeout", closed.Message, StringComparison.Ordinal);
        Assert.Equal(3, (await echo.Echo([1, 2, 3])).Length);
        await client.StopAsync(Token);
    }

    [Fact]
    public async Task PeerThatSendsRequestsAndNeverReads_CannotGrowTheSilo()
    {
        var before = PeakResidentMiB(silo.SiloProcessId);
        var raw = await ProtocolFaultTests.ConnectAuthenticatedAsync(silo);
        var info = ActorTypeRegistry.Find(typeof(IHoldActor))!;
        var method = info.Methods.Single(m => m.Name == "Echo");
        using var args = PooledBuffer.Rent(1 << 20 + 16);
        var writer = args.CreateWriter();
        writer.WriteArrayHeader(1);
        writer.Write(new byte[1 << 20]);
        writer.Flush();
        var frame = args.WrittenMemory.ToArray();

        // 400 echoes of 1 MiB, answers never read: the silo stops reading this peer once its answers are queued up,
        // and closes the connection after its stall timeout.
        var sent = 0;
        var sending = Task.Run(
            async () =>
            {
                for (ulong i = 1; i <= 400; i++)
                {
                    await ProtocolFaultTests.SendRequestAsync(raw, i, info.Name, "hostile", method.Id, frame);
                    sent++;
                }
            },
            Token);
        try
        {
            await sending.WaitAsync(TimeSpan.FromSeconds(StallSiloFixture.SendStallSeconds * 5), Token);
        }
        catch (Exception e) when (e is TimeoutException or IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or InvalidOperationException)
        {
            // The silo stopped reading (then closed): the sender is stuck or fails, as it should.
        }

        var after = PeakResidentMiB(silo.SiloProcessId);
        Assert.True(after - before < 200, $"the silo's peak memory grew from {before} to {after} MiB after {sent} unread 1 MiB echoes");
        Assert.Equal(1, await silo.Factory.GetGrain<ICounterActor>(Guid.NewGuid().ToString("N")).Add(1));

        // The silo closed the connection of the peer that did not read (its stall timeout) and said why. The peer
        // cannot see the close itself: it reads nothing, which is the point. The log line has no event to wait for.
        var waited = Stopwatch.StartNew();
        while (!silo.SiloStderr.Contains("Sandgrain:SendStallTimeout", StringComparison.Ordinal))
        {
            Assert.True(waited.Elapsed < Unexpected, "the silo did not close the connection of the peer that reads nothing");
            await Task.Delay(50, Token);
        }

        raw.Abort();
        await raw.DisposeAsync();
    }

    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    private static long PeakResidentMiB(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }
}

public sealed class UnixBackPressureFaultTests(UnixStallSiloFixture silo) : BackPressureFaultTests(silo), IClassFixture<UnixStallSiloFixture>;

public sealed class SharedMemoryBackPressureFaultTests(SharedMemoryStallSiloFixture silo) : BackPressureFaultTests(silo), IClassFixture<SharedMemoryStallSiloFixture>;
