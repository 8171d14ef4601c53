using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
        using var host = await TestClients.StartAsync(TestClients.Arguments(container, "unix", "--Sandgrain:ActivationIdleTimeout=00:00:01"), s => s.AddTestActors());
        try
        {
            var actor = host.Services.GetRequiredService<IActorFactory>().GetGrain<ILifeCountingActor>("one");
            var first = await actor.Touch();

            // Idle for a second: collected, and its deactivation (like saving state) takes as long as the test says.
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
    public void EveryFailureOfACall_IsAnActorCallException()
    {
        Assert.True(typeof(ActorCallException).IsAssignableFrom(typeof(Sandgrain.Runtime.Invocation.UnknownActorMethodException)));
        Assert.True(typeof(ActorUnavailableException).IsAssignableFrom(typeof(ConnectionRefusedException)));
    }
}
