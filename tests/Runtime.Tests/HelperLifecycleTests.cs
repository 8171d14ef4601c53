using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>A helper launched by the first call, exiting once idle (seed 001), launched again by the next call.</summary>
public sealed class HelperLifecycleTests : IDisposable
{
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("unix")]
    [InlineData("shm")]
    public async Task IdleHelper_Exits_AndTheNextCallLaunchesItAgain(string transport)
    {
        int firstPid;
        using (var client = await StartClientAsync(transport))
        {
            Assert.Equal(1, await client.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("idle").Add(1));
            firstPid = client.Services.GetRequiredService<SiloRegistry>().LiveSilos().Single(r => r.Helper == "Tests").ProcessId;
            await client.StopAsync(Token);
        }

        // No connections now; once its activation is collected the helper has nothing left and exits.
        using (var helper = Process.GetProcessById(firstPid))
        {
            await helper.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        }

        using var again = await StartClientAsync(transport);
        Assert.Equal(1, await again.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("idle").Add(1));
        var second = again.Services.GetRequiredService<SiloRegistry>().LiveSilos().Single(r => r.Helper == "Tests");
        Assert.NotEqual(firstPid, second.ProcessId);
        await again.StopAsync(Token);
        Programs.Kill(second.ProcessId);
    }

    [Fact]
    public async Task HelperThatStartsSlowerThanItsIdleTimeout_IsIdleFromItsRegistration_NotFromItsConstruction()
    {
        // The helper's start takes 2.5 s, longer than its 2 s idle timeout. Counted from its construction it would be
        // idle at its first check (0.5 s after registering), before the caller that launched it could connect.
        using var client = await TestClients.StartAsync(TestClients.Arguments(
            _container,
            "unix",
            "--Sandgrain:Helpers:Tests:Executable=" + Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo"),
            "--Sandgrain:Helpers:Tests:Arguments:0=--Test:SlowStartMs=2500",
            "--Sandgrain:Helpers:Tests:ActorTypes:0=ICounterActor",
            "--Sandgrain:Helpers:Tests:IdleTimeout=00:00:02",
            "--Sandgrain:Helpers:Tests:StartTimeout=00:00:30"));
        var silos = client.Services.GetRequiredService<ISiloDirectory>();
        var started = await silos.StartHelperAsync("Tests", Token);

        // Past the helper's first idle check (0.5 s after it registered), with 1.3 s to spare before its idle timeout
        // for the time the launcher took to see the record on a loaded machine. Counted from its construction, it would
        // be gone by now, and the call below would start a second helper.
        await Task.Delay(TimeSpan.FromMilliseconds(700), Token);
        var counter = client.Services.GetRequiredService<IActorFactory>().GetGrain<ICounterActor>("slow");
        Assert.Equal(1, await counter.Add(1));
        Assert.EndsWith("@" + started.ProcessId, await counter.WhereAmI(), StringComparison.Ordinal);
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
        "--Sandgrain:Helpers:Tests:Executable=" + Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo"),
        "--Sandgrain:Helpers:Tests:Arguments:0=--Sandgrain:ActivationIdleTimeout=00:00:00.300",
        "--Sandgrain:Helpers:Tests:ActorTypes:0=ICounterActor",
        // Long enough for a relaunched helper's launcher to see its record and connect on a loaded 2-core machine:
        // at 0.5 s it sometimes exited idle first (the race this leaves open is in the closing note of its issue).
        "--Sandgrain:Helpers:Tests:IdleTimeout=00:00:02"));
}
