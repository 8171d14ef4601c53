using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// An activation's life in a silo that hosts the actors and calls them from its own process: one instance per key
/// at every moment, arguments that stay the invocation's until it is done, activation failures that are not cached.
/// </summary>
public sealed class ActivationLifecycleTests
{
    /// <summary>How long a test waits to see that something does not happen.</summary>
    private static readonly TimeSpan ExpectedTimeout = TimeSpan.FromMilliseconds(300);

    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CallsDuringADeactivation_WaitForIt_AndNeverMeetASecondInstance()
    {
        using var container = new TestContainer();
        LifeCountingActor.HoldDeactivation = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LifeCountingActor.DeactivationStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = new FakeTimeProvider();
        using var host = await TestClients.StartAsync(TestClients.Arguments(container, "unix", "--Sandgrain:ActivationIdleTimeout=00:00:01"), s => s.AddTestActors(), clock);
        try
        {
            var actor = host.Services.GetRequiredService<IActorFactory>().GetGrain<ILifeCountingActor>("one");
            var first = await actor.Touch();

            // Idle for two seconds of the silo's clock: collected, and its deactivation (like saving state) takes as
            // long as the test says.
            clock.Advance(TimeSpan.FromSeconds(2));
            await LifeCountingActor.DeactivationStarted.Task.WaitAsync(Unexpected, Token);
            var during = Enumerable.Range(0, 5).Select(_ => actor.Touch()).ToList();
            await Task.Delay(ExpectedTimeout, Token);
            Assert.All(during, call => Assert.False(call.IsCompleted, "a call ran while the activation was deactivating"));
            Assert.Equal(1, LifeCountingActor.MaxLive);

            LifeCountingActor.HoldDeactivation.SetResult();
            var answers = await Task.WhenAll(during).WaitAsync(Unexpected, Token);
            Assert.Single(answers.Distinct());
            Assert.NotEqual(first, answers[0]);
            Assert.Equal(1, LifeCountingActor.MaxLive);
            Assert.Empty(LifeCountingActor.Violations);
        }
        finally
        {
            LifeCountingActor.HoldDeactivation?.TrySetResult();
            LifeCountingActor.HoldDeactivation = null;
            await host.StopAsync(Token);
        }
    }

    [Fact]
    public async Task LocalCallThatTimesOut_BeforeItsTurn_IsNotRun_AndNoOtherCallsBytesReachTheActor()
    {
        using var container = new TestContainer();
        using var host = await TestClients.StartAsync(TestClients.Arguments(container, "unix"), s => s.AddTestActors());
        var factory = host.Services.GetRequiredService<IActorFactory>();
        var slow = factory.GetGrain<ISlowActivationActor>("slow-1500");
        using (ActorCall.WithTimeout(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAsync<ActorCallTimeoutException>(() => slow.Record(111111));
        }

        // Other calls rent (and fill) pooled buffers while the slow activation is still activating.
        var fast = factory.GetGrain<ISlowActivationActor>("fast-0");
        for (var i = 0; i < 200; i++)
        {
            await fast.Record(0x0BADF00D);
        }

        Assert.Equal(222, await slow.Record(222));
        var recorded = await slow.Recorded();
        Assert.Equal(new[] { 222 }, recorded);
        await host.StopAsync(Token);
    }

    [Fact]
    public async Task FailedActivation_IsNotCached_TheNextCallActivatesAgain()
    {
        using var container = new TestContainer();
        using var host = await TestClients.StartAsync(TestClients.Arguments(container, "unix"), s => s.AddTestActors());
        var actor = host.Services.GetRequiredService<IActorFactory>().GetGrain<IFlakyActivationActor>(Guid.NewGuid().ToString("N"));
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => actor.Hello());
        Assert.Contains("first activation", e.Message, StringComparison.Ordinal);
        Assert.Equal("hello after 2 activations", await actor.Hello());
        await host.StopAsync(Token);
    }

    [Fact]
    public async Task IdleActivations_AreCollectedOnTheSilosClock_AndFreeRoomUnderTheActivationLimit()
    {
        using var container = new TestContainer();
        var clock = new FakeTimeProvider();
        using var host = await TestClients.StartAsync(TestClients.Arguments(container, "unix", "--Sandgrain:ActivationIdleTimeout=00:00:10", "--Sandgrain:MaxActivations=3"), s => s.AddTestActors(), clock);
        var factory = host.Services.GetRequiredService<IActorFactory>();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(1, await factory.GetGrain<ICounterActor>("c" + i).Add(1));
        }

        var full = await Assert.ThrowsAsync<SandgrainLimitExceededException>(() => factory.GetGrain<ICounterActor>("c3").Add(1));
        Assert.Contains("the limit is 3 (Sandgrain:MaxActivations)", full.Message, StringComparison.Ordinal);

        // Idle for 9 s of the silo's clock, under the 10 s timeout: nothing is collected, still no room.
        clock.Advance(TimeSpan.FromSeconds(9));
        await Assert.ThrowsAsync<SandgrainLimitExceededException>(() => factory.GetGrain<ICounterActor>("c3").Add(1));
        Assert.Equal(2, await factory.GetGrain<ICounterActor>("c0").Add(1));
        clock.Advance(TimeSpan.FromSeconds(2));

        // c1 and c2 have been idle for 11 s of the silo's clock; c0 for 2 s. Collecting them makes room for one more.
        var room = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                Assert.Equal(1, await factory.GetGrain<ICounterActor>("c3").Add(1));
                break;
            }
            catch (SandgrainLimitExceededException) when (room.Elapsed < Unexpected)
            {
                // Collection runs on the clock's timer and deactivates off it: give it a moment of real time.
                await Task.Delay(10, Token);
            }
        }

        Assert.Equal(3, await factory.GetGrain<ICounterActor>("c0").Add(1));
        await host.StopAsync(Token);
    }

    [Fact]
    public void EveryFailureOfACall_IsAnActorCallException()
    {
        Assert.True(typeof(ActorCallException).IsAssignableFrom(typeof(Sandgrain.Runtime.Invocation.UnknownActorMethodException)));
        Assert.True(typeof(ActorUnavailableException).IsAssignableFrom(typeof(ConnectionRefusedException)));
    }
}
