using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Messaging;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Hostile or broken peers against a TestSilo with small limits (6 connections, 4 requests in flight per
/// connection, 20 activations, a 2 s handshake): each reaches its limit, gets an error that names the value, the
/// limit and the option, and the silo keeps serving well-behaved callers.
/// </summary>
public abstract class PeerFaultTests(LimitedSiloFixture silo)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PeerSendingOneBytePerSecond_DelaysNobody_AndIsCutAtTheHandshakeTimeout()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>("slow-peer");
        await counter.Reset();
        await using var slow = await ProtocolFaultTests.ConnectTransportAsync(silo);
        var hello = Protocol.EncodeHello(SiloRecord.NewSiloId(), Sandgrain.Runtime.Security.GroupSecret.NewNonce());
        using var frame = Invocation.PooledBuffer.Rent();
        var trickle = Task.Run(async () =>
        {
            // The hello, one byte at a time, slower than any handshake may take.
            foreach (var b in new byte[] { (byte)(hello.Length + 1), 0, 0, 0, (byte)FrameKind.Hello }.Concat(hello))
            {
                slow.Transport.Output.Write([b]);
                var flushed = await slow.Transport.Output.FlushAsync(Token);
                if (flushed.IsCompleted)
                {
                    return;
                }

                await Task.Delay(400, Token);
            }
        }, Token);

        // Meanwhile a well-behaved caller is served as usual.
        for (var i = 1; i <= 200; i++)
        {
            Assert.Equal(i, await counter.Add(1));
        }

        var cut = Stopwatch.StartNew();
        await ProtocolFaultTests.AssertClosedAsync(slow);
        Assert.True(cut.Elapsed < TimeSpan.FromSeconds(10), $"the slow peer was still connected {cut.Elapsed} after the calls");
        await Task.WhenAny(trickle, Task.Delay(1000, Token));
    }

    [Fact]
    public async Task ConnectionFlood_PastTheLimit_IsRefusedWithTheReason_AndConnectedCallersAreServed()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>("flood");
        await counter.Reset();
        await counter.Add(1); // the fixture's own connection is open

        var flood = new List<ConnectionContext>();
        try
        {
            // Authenticated connections until the listener is full (the fixture's connection is one of them);
            // the next one is turned away at once, told why, before any handshake.
            var reason = await FloodAsync(flood);
            Assert.Contains($"over the limit of {LimitedSiloFixture.MaxConnections} (Sandgrain:MaxConnections)", reason, StringComparison.Ordinal);
            Assert.True(flood.Count < LimitedSiloFixture.MaxConnections, $"{flood.Count} flood connections were accepted");

            // The caller already connected is served throughout.
            Assert.Equal(2, await counter.Add(1));
        }
        finally
        {
            foreach (var connection in flood)
            {
                await connection.DisposeAsync();
            }
        }

        // Once the silo has seen the flood close (a moment later), a new process's runtime connects again.
        using var fresh = await StartClientAsync();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Assert.Equal(3, await fresh.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("flood").Add(1));
                break;
            }
            catch (ActorUnavailableException e) when (e.Message.Contains("(Sandgrain:MaxConnections)", StringComparison.Ordinal) && waited.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(50, Token);
            }
        }

        await fresh.StopAsync(Token);
    }

    [Fact]
    public async Task SilentConnectionsPastTheHandshakeBudget_DropTheOldest_AndAGroupMemberStillGetsIn()
    {
        // Twice MaxConnections peers that connect and never say a word: they fill the handshake budget, not the
        // budget of authenticated connections, and each new one pushes out the one that has waited longest.
        var silent = new List<ConnectionContext>();
        try
        {
            for (var i = 0; i < 2 * LimitedSiloFixture.MaxConnections; i++)
            {
                var connection = await ProtocolFaultTests.ConnectTransportAsync(silo);
                Assert.Equal(FrameKind.Hello, (await ProtocolFaultTests.ReadFrameAsync(connection)).Kind);
                silent.Add(connection);
            }

            // The oldest were dropped to make room for the newer ones.
            await ProtocolFaultTests.AssertClosedAsync(silent[0]);

            // A group member connecting now gets in at once, though the silent ones are still there.
            using var member = await StartClientAsync();
            Assert.Equal(1, await member.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("member-" + Guid.NewGuid().ToString("N")).Add(1));
            await member.StopAsync(Token);
        }
        finally
        {
            foreach (var connection in silent)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RuntimeRefusedByAFullListener_FailsTheCall_NamingTheLimit()
    {
        await silo.Factory.GetGrain<ICounterActor>("full").Add(1);
        var flood = new List<ConnectionContext>();
        try
        {
            await FloodAsync(flood);
            using var refused = await StartClientAsync();
            var e = await Assert.ThrowsAsync<ConnectionRefusedException>(() => refused.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("full").Add(1));
            Assert.Contains("(Sandgrain:MaxConnections)", e.Reason, StringComparison.Ordinal);
            Assert.Contains(e.Reason, e.Message, StringComparison.Ordinal);
            await refused.StopAsync(Token);
        }
        finally
        {
            foreach (var connection in flood)
            {
                await connection.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task RequestsInFlightPastTheLimit_FailAtOnce_NamingTheLimit_ThenCallsWorkAgain()
    {
        // Calls that hold their slot until released, and a second client (with a budget of its own) that learns
        // when they have all arrived: no retrying, no guessing how long a loaded machine takes.
        var group = "busy-" + Guid.NewGuid().ToString("N");
        var holders = Enumerable.Range(0, LimitedSiloFixture.MaxInFlight).Select(i => silo.Factory.GetGrain<IHoldActor>($"{group}-{i}").Hold(group, 60_000)).ToList();
        using var watcher = await StartClientAsync();
        var watch = watcher.Services.GetRequiredService<IActorFactory>().GetGrain<IHoldActor>(group + "-watch");
        await watch.WaitForHolders(group, LimitedSiloFixture.MaxInFlight);

        var refused = await Assert.ThrowsAsync<SandgrainLimitExceededException>(() => silo.Factory.GetGrain<ICounterActor>("one-more").Get());
        Assert.Contains($"over the limit of {LimitedSiloFixture.MaxInFlight} (Sandgrain:MaxInFlightRequestsPerConnection)", refused.Message, StringComparison.Ordinal);

        await watch.Release(group);
        Assert.Equal(LimitedSiloFixture.MaxInFlight, (await Task.WhenAll(holders)).Distinct().Count());
        Assert.Equal(1, await silo.Factory.GetGrain<ICounterActor>("one-more").Add(1));
        await watcher.StopAsync(Token);
    }

    [Fact]
    public async Task RegistryRecordPointingAtAnotherSilosAddress_IsRejectedByTheSiloIdCheck()
    {
        using var registry = new SiloRegistry(silo.Container.Container);
        var real = registry.LiveSilos().Single(r => r.ProcessId == silo.SiloProcessId);

        // A record that claims to be an older silo hosting INumberActor, at the real silo's address.
        using var forged = registry.Publish(new SiloRecord
        {
            SiloId = SiloRecord.NewSiloId(),
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UnixEpoch,
            ProtocolVersion = Protocol.Version,
            ActorTypes = [typeof(INumberActor).FullName!],
            Addresses = real.Addresses,
        });
        using var client = await StartClientAsync();

        var e = await Assert.ThrowsAsync<ActorUnavailableException>(() => client.Services.GetRequiredService<IActorFactory>().GetGrain<INumberActor>(3).Square());

        Assert.Contains($"identified itself as silo {real.SiloId}, but the registry record it was reached through belongs to silo {forged.Record.SiloId}", e.Message, StringComparison.Ordinal);
        await client.StopAsync(Token);
    }

    /// <summary>Opens authenticated connections until the silo refuses one; returns the refusal's reason.</summary>
    private async Task<string> FloodAsync(List<ConnectionContext> flood)
    {
        for (var i = 0; i <= LimitedSiloFixture.MaxConnections; i++)
        {
            var connection = await ProtocolFaultTests.ConnectTransportAsync(silo);
            var (kind, payload) = await ProtocolFaultTests.ReadFrameAsync(connection);
            if (kind == FrameKind.Goodbye)
            {
                await ProtocolFaultTests.AssertClosedAsync(connection);
                await connection.DisposeAsync();
                return Protocol.DecodeGoodbye(new ReadOnlySequence<byte>(payload));
            }

            Assert.Equal(FrameKind.Hello, kind);
            var (siloId, siloNonce) = Protocol.DecodeHello(new ReadOnlySequence<byte>(payload));
            var hello = new RawHello(connection, siloId, siloNonce, SiloRecord.NewSiloId(), Sandgrain.Runtime.Security.GroupSecret.NewNonce());
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Hello, Protocol.EncodeHello(hello.OwnId, hello.OwnNonce), default);
            Protocol.WriteFrame(connection.Transport.Output, FrameKind.Proof, hello.InitiatorProof(Sandgrain.Runtime.Security.GroupSecret.LoadOrCreate(silo.Container.Container)), default);
            await connection.Transport.Output.FlushAsync(Token);
            Assert.Equal(FrameKind.Proof, (await ProtocolFaultTests.ReadFrameAsync(connection)).Kind);
            flood.Add(connection);
        }

        Assert.Fail($"the silo accepted {flood.Count} connections besides the fixture's; its limit is {LimitedSiloFixture.MaxConnections}");
        return "";
    }

    private Task<IHost> StartClientAsync() => TestClients.StartAsync(TestClients.Arguments(silo.Container, silo.TransportScheme));
}

public sealed class UnixPeerFaultTests(UnixLimitedSiloFixture silo) : PeerFaultTests(silo), IClassFixture<UnixLimitedSiloFixture>;

/// <summary>
/// The activation limit, against a silo of its own: filling it would leave the other fault tests no room, and tests
/// that share a silo must not depend on each other's leftovers.
/// </summary>
public abstract class ActivationLimitFaultTests(LimitedSiloFixture silo)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ActivationsPastTheLimit_FailWithTheLimit_AndTheSiloCarriesOn()
    {
        SandgrainLimitExceededException? refused = null;
        var created = 0;
        for (var i = 0; i < LimitedSiloFixture.MaxActivations * 2 && refused is null; i++)
        {
            try
            {
                await silo.Factory.GetGrain<ICounterActor>("many-" + i).Add(1);
                created++;
            }
            catch (SandgrainLimitExceededException e)
            {
                refused = e;
            }
        }

        Assert.NotNull(refused);
        Assert.True(created <= LimitedSiloFixture.MaxActivations, $"{created} activations were created");
        Assert.Contains($"the limit is {LimitedSiloFixture.MaxActivations} (Sandgrain:MaxActivations)", refused.Message, StringComparison.Ordinal);

        // The activations it has keep working; collection making room again is tested on a fake clock
        // (ActivationLifecycleTests), not by waiting here for the silo's idle timeout.
        // (2 while it is still active; 1 if the silo's 3 s idle timeout collected it meanwhile on a slow machine.)
        Assert.InRange(await silo.Factory.GetGrain<ICounterActor>("many-" + (created - 1)).Add(1), 1, 2);
    }
}

public sealed class UnixActivationLimitFaultTests(UnixLimitedSiloFixture silo) : ActivationLimitFaultTests(silo), IClassFixture<UnixLimitedSiloFixture>;

public sealed class SharedMemoryActivationLimitFaultTests(SharedMemoryLimitedSiloFixture silo) : ActivationLimitFaultTests(silo), IClassFixture<SharedMemoryLimitedSiloFixture>;

public sealed class SharedMemoryPeerFaultTests(SharedMemoryLimitedSiloFixture silo) : PeerFaultTests(silo), IClassFixture<SharedMemoryLimitedSiloFixture>;
