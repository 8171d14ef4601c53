using System.Diagnostics;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Calls from this process to actors hosted by a TestSilo process. The same tests run over the Unix-socket
/// and the shared-memory transport.
/// </summary>
public abstract class RuntimeCallTests(SiloFixture silo)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string Key() => Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Calls_ReturnResults_FromTheOtherProcess()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        Assert.Equal(5, await counter.Add(5));
        Assert.Equal(12, await counter.Add(7));
        Assert.Equal(12, await counter.Get());
        var where = await counter.WhereAmI();
        Assert.EndsWith("@" + silo.SiloProcessId, where, StringComparison.Ordinal);
        Assert.StartsWith("Sandgrain.TestActors.ICounterActor/", where, StringComparison.Ordinal);
        await counter.Reset();
        Assert.Equal(0, await counter.Get());
    }

    [Fact]
    public async Task TheSiloListensOnlyOnTheConfiguredTransport()
    {
        await silo.Factory.GetGrain<ICounterActor>(Key()).Get();
        using var registry = new Sandgrain.Runtime.Discovery.SiloRegistry(silo.Container.Container);
        var record = registry.LiveSilos().Single(r => r.ProcessId == silo.SiloProcessId);
        Assert.Equal([silo.TransportScheme + ":"], record.Addresses.Select(a => a[..(a.IndexOf(':') + 1)]).Distinct());
    }

    [Fact]
    public async Task Calls_AreCounted_AndTraced()
    {
        var key = Key();
        var measured = new System.Collections.Concurrent.ConcurrentQueue<(string Instrument, string? Outcome, string? Direction)>();
        using var meters = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == SandgrainTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            string? outcome = null, direction = null;
            foreach (var tag in tags)
            {
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
                direction = tag.Key == "direction" ? tag.Value as string : direction;
            }

            measured.Enqueue((instrument.Name, outcome, direction));
        });
        meters.Start();
        var activities = new System.Collections.Concurrent.ConcurrentQueue<Activity>();
        using var tracing = new ActivityListener
        {
            ShouldListenTo = source => source.Name == SandgrainTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Enqueue,
        };
        ActivitySource.AddActivityListener(tracing);

        await silo.Factory.GetGrain<ICounterActor>(key).Add(1);

        Assert.Contains(measured, m => m.Instrument == "sandgrain.calls" && m.Outcome == "ok" && m.Direction == "outgoing");
        var span = Assert.Single(activities, a => (a.GetTagItem("sandgrain.actor") as string)?.EndsWith("/" + key, StringComparison.Ordinal) == true);
        Assert.Equal("ICounterActor/Add", span.DisplayName);
        Assert.Equal(ActivityKind.Client, span.Kind);
    }

    [Fact]
    public async Task UserTypes_RoundTrip()
    {
        var key = Key();
        var info = await silo.Factory.GetGrain<ICounterActor>(key).Describe(new DeviceInfo { Name = "usb", Opens = 1, Tags = ["a"] });
        Assert.Equal("usb!", info.Name);
        Assert.Equal(2, info.Opens);
        Assert.Equal(["a", key], info.Tags);
    }

    [Fact]
    public async Task GuidAndIntegerKeys_Work()
    {
        var id = Guid.NewGuid();
        Assert.Equal("hello from " + id, await silo.Factory.GetGrain<ILifecycleActor>(id).Hello());
        Assert.Equal(1_000_000L * 1_000_000L, await silo.Factory.GetGrain<INumberActor>(1_000_000).Square());
    }

    [Fact]
    public async Task OneWayAndRequests_AreHandledInOrder()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        for (var i = 1; i <= 1000; i++)
        {
            await counter.AddOneWay(i);
        }

        Assert.Equal(500_500, await counter.Get());
    }

    [Fact]
    public async Task CommonExceptions_KeepTheirType_AndCarryTheRemoteStack()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        var invalid = await Assert.ThrowsAsync<InvalidOperationException>(() => counter.Fail("invalid", "the device is closed"));
        Assert.Equal("the device is closed", invalid.Message);
        var remote = Assert.IsType<RemoteActorException>(invalid.InnerException);
        Assert.Equal("System.InvalidOperationException", remote.OriginalTypeName);
        Assert.Contains("CounterActor.Fail", remote.RemoteStackTrace, StringComparison.Ordinal);

        var custom = await Assert.ThrowsAsync<RemoteActorException>(() => counter.Fail("custom", "boom"));
        Assert.Equal("Sandgrain.TestActors.CustomActorException", custom.OriginalTypeName);
        Assert.Equal("boom", custom.Message);

        // The connection is still good.
        Assert.Equal(1, await counter.Add(1));
    }

    [Fact]
    public async Task Deadline_FailsTheCall_NamingActorAndMethod()
    {
        var key = Key();
        var counter = silo.Factory.GetGrain<ICounterActor>(key);
        var watch = Stopwatch.StartNew();
        ActorCallTimeoutException e;
        using (ActorCall.WithTimeout(TimeSpan.FromMilliseconds(300)))
        {
            e = await Assert.ThrowsAsync<ActorCallTimeoutException>(() => counter.Sleep(10_000));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the deadline fired after {watch.Elapsed}");
        Assert.Contains("ICounterActor.Sleep", e.Message, StringComparison.Ordinal);
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_ReachesTheOtherProcess()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        var before = await silo.Factory.GetGrain<ICounterActor>("observer").CancelledCount();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => counter.WaitForCancellation(cts.Token));

        // The actor's own token fired in the silo process.
        var deadline = Stopwatch.StartNew();
        while (await silo.Factory.GetGrain<ICounterActor>("observer").CancelledCount() == before)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the actor's cancellation token never fired");
            await Task.Delay(20, Token);
        }
    }

    [Fact]
    public async Task NonReentrantActor_RunsOneRequestAtATime_AcrossAwaits()
    {
        var actor = silo.Factory.GetGrain<ITurnActor>(Key());
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => actor.Step(40)));
        Assert.All(results, at => Assert.Equal(1, at));
        Assert.Equal(1, await actor.MaxConcurrency());
    }

    [Fact]
    public async Task ReentrantActor_Interleaves()
    {
        var actor = silo.Factory.GetGrain<IReentrantTurnActor>(Key());
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => actor.Step(200)));
        Assert.True(await actor.MaxConcurrency() > 1, "requests to a [Reentrant] actor did not interleave");
    }

    [Fact]
    public async Task AlwaysInterleaveMethod_RunsWhileARequestIsInProgress()
    {
        var actor = silo.Factory.GetGrain<ITurnActor>(Key());

        // Activate and connect first; then Step's request is on the wire before Peek's, and one connection
        // delivers in order, so Peek arrives while Step is inside its await.
        await actor.MaxConcurrency();
        var slow = actor.Step(1000);
        Assert.Equal(2, await actor.Peek(1));
        Assert.Equal(1, await slow);
    }

    [Fact]
    public async Task CallCycle_FailsAtOnce_NamingTheChain()
    {
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<CallCycleException>(() => silo.Factory.GetGrain<ICycleActor>("a-" + Key()).Bounce("b", 3));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Contains("ICycleActor", e.Message, StringComparison.Ordinal);
        Assert.Contains("→", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ActorToActorCalls_InsideTheSilo_Work()
    {
        var a = silo.Factory.GetGrain<ICounterActor>(Key());
        var bKey = Key();
        Assert.Equal(3, await a.CallOther(bKey, 3));
        Assert.Equal(3, await silo.Factory.GetGrain<ICounterActor>(bKey).Get());
    }

    [Fact]
    public async Task IdleActivations_AreCollected_WithTheirHooks()
    {
        var id = Guid.NewGuid();
        await silo.Factory.GetGrain<ILifecycleActor>(id).Hello();
        var probe = silo.Factory.GetGrain<ILifecycleActor>(Guid.NewGuid());
        var deadline = Stopwatch.StartNew();
        while (!(await probe.Events()).Contains("deactivate " + id))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), "the idle activation was never collected");
            await Task.Delay(100, Token);
        }

        Assert.Contains("activate " + id, await probe.Events());
    }

    [Fact]
    public async Task Timers_RunAsTurns_NeverDuringARequest()
    {
        var actor = silo.Factory.GetGrain<ILifecycleActor>(Guid.NewGuid());
        await actor.StartTimer(5);

        // Requests that stay inside across awaits, back to back: a tick due meanwhile must wait for its turn.
        var deadline = Stopwatch.StartNew();
        do
        {
            await Task.WhenAll(actor.Busy(50), actor.Busy(50), actor.Busy(50));
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the timer did not tick");
        }
        while (await actor.Ticks() < 5);

        Assert.Equal(0, await actor.TimerOverlaps());
    }

    [Fact]
    public async Task ReadOnlyRequests_InterleaveWithEachOther_NeverWithAWriter()
    {
        var actor = silo.Factory.GetGrain<ITurnActor>(Key());
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => actor.Read(400)));
        Assert.True((await actor.ReadStats())[0] >= 2, "read-only requests ran one at a time");

        await Task.WhenAll(actor.Step(150), actor.Read(150), actor.Read(150), actor.Step(150), actor.Read(150), actor.Step(150));
        Assert.Equal(0, (await actor.ReadStats())[1]);
        Assert.Equal(1, await actor.MaxConcurrency());
    }

    [Fact]
    public async Task CallCycle_ThroughAnObserver_FailsAtOnce()
    {
        var key = Key();
        var relay = silo.Factory.CreateObjectReference<IRelayObserver>(new RelayObserver(silo.Factory));
        using (ActorCall.WithTimeout(TimeSpan.FromSeconds(20)))
        {
            var started = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<CallCycleException>(() => silo.Factory.GetGrain<ICycleActor>(key).CallBack(relay));
            Assert.Contains("ICycleActor/" + key, e.Message, StringComparison.Ordinal);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(15), "the cycle waited for the deadline");
        }
    }

    private sealed class RelayObserver(IActorFactory factory) : IRelayObserver
    {
        public Task<string> Relay(string cycleActorKey) => factory.GetGrain<ICycleActor>(cycleActorKey).Ping();
    }

    [Fact]
    public async Task ManyConcurrentCallers_AllGetTheirAnswers()
    {
        var tasks = Enumerable.Range(0, 64).Select(async i =>
        {
            var counter = silo.Factory.GetGrain<ICounterActor>("many-" + i);
            await counter.Reset();
            for (var n = 0; n < 50; n++)
            {
                await counter.Add(1);
            }

            return await counter.Get();
        });
        Assert.All(await Task.WhenAll(tasks), total => Assert.Equal(50, total));
    }

    [Fact]
    public async Task Observer_IsCalledBack_InTheCallersProcess()
    {
        var publisher = silo.Factory.GetGrain<IPublisherActor>(Key());
        var observer = new RecordingObserver();
        var reference = silo.Factory.CreateObjectReference<ITickObserver>(observer);
        await publisher.Subscribe(reference);

        var answers = await publisher.Publish(7);

        Assert.Equal(["tick 7 in pid " + Environment.ProcessId], answers);
        Assert.Equal([7], observer.Ticks);
        await publisher.NotifyAll("hello");
        Assert.Equal("hello", await observer.Notified.Task.WaitAsync(TimeSpan.FromSeconds(10), Token));
        silo.Factory.DeleteObjectReference<ITickObserver>(observer);
    }

    [Fact]
    public async Task Observer_Deleted_FailsTheActorsCallAtOnce()
    {
        var publisher = silo.Factory.GetGrain<IPublisherActor>(Key());
        var observer = new RecordingObserver();
        await publisher.Subscribe(silo.Factory.CreateObjectReference<ITickObserver>(observer));
        silo.Factory.DeleteObjectReference<ITickObserver>(observer);

        var answer = Assert.Single(await publisher.Publish(1));

        Assert.StartsWith(nameof(ActorUnavailableException) + ":", answer, StringComparison.Ordinal);
        Assert.Contains("no longer exists", answer, StringComparison.Ordinal);
        Assert.Empty(observer.Ticks);
    }

    [Fact]
    public async Task Observer_DeletedByItsReference_ThenCreatedAgain_IsCalledAgain()
    {
        var observer = new RecordingObserver();
        var first = silo.Factory.CreateObjectReference<ITickObserver>(observer);
        silo.Factory.DeleteObjectReference<ITickObserver>(first);

        var again = silo.Factory.CreateObjectReference<ITickObserver>(observer);
        var publisher = silo.Factory.GetGrain<IPublisherActor>(Key());
        await publisher.Subscribe(again);

        Assert.Equal(["tick 4 in pid " + Environment.ProcessId], await publisher.Publish(4));
    }

    [Fact]
    public async Task Observer_WhoseProcessIsKilled_FailsAtOnce_OthersStillAnswer()
    {
        var key = Key();
        var publisher = silo.Factory.GetGrain<IPublisherActor>(key);
        using var subscriber = await silo.StartSubscriberAsync(key);
        var local = new RecordingObserver();
        await publisher.Subscribe(silo.Factory.CreateObjectReference<ITickObserver>(local));
        var before = await publisher.Publish(1);
        Assert.Equal("tick 1 in pid " + subscriber.Id, before[0]);

        subscriber.Kill();
        await subscriber.WaitForExitAsync(Token);
        var watch = Stopwatch.StartNew();
        var after = await publisher.Publish(2);

        // "At once": well inside the 30 s default call timeout, which is what a deadline-based failure would take.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
        Assert.StartsWith(nameof(ActorUnavailableException) + ":", after[0], StringComparison.Ordinal);
        Assert.Equal("tick 2 in pid " + Environment.ProcessId, after[1]);
    }

    [Fact]
    public async Task References_TravelAsArgumentsAndResults()
    {
        var publisher = silo.Factory.GetGrain<IPublisherActor>(Key());
        var counterKey = Key();

        Assert.Equal(4, await publisher.AddThrough(silo.Factory.GetGrain<ICounterActor>(counterKey), 4));
        Assert.Equal(4, await silo.Factory.GetGrain<ICounterActor>(counterKey).Get());

        var observer = new RecordingObserver();
        var reference = silo.Factory.CreateObjectReference<ITickObserver>(observer);
        var echoed = await publisher.Echo(reference);
        Assert.NotNull(echoed);
        Assert.Equal("tick 3 in pid " + Environment.ProcessId, await echoed.OnTick(3));
        Assert.Null(await publisher.Echo(null));
    }

    [Fact]
    public async Task Observer_PassedAsThePlainObject_IsRefusedWithTheFix()
    {
        var publisher = silo.Factory.GetGrain<IPublisherActor>(Key());

        var e = await Assert.ThrowsAsync<MessagePack.MessagePackSerializationException>(() => publisher.Subscribe(new RecordingObserver()));

        Assert.Contains("CreateObjectReference<ITickObserver>", e.Message, StringComparison.Ordinal);
    }

    private sealed class RecordingObserver : ITickObserver
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<int> _ticks = new();

        public int[] Ticks => [.. _ticks];

        public TaskCompletionSource<string> Notified { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> OnTick(int number)
        {
            _ticks.Enqueue(number);
            return Task.FromResult($"tick {number} in pid {Environment.ProcessId}");
        }

        public Task Notify(string message)
        {
            Notified.TrySetResult(message);
            return Task.CompletedTask;
        }
    }
}

public sealed class UnixRuntimeCallTests(UnixSiloFixture silo) : RuntimeCallTests(silo), IClassFixture<UnixSiloFixture>;

public sealed class SharedMemoryRuntimeCallTests(SharedMemorySiloFixture silo) : RuntimeCallTests(silo), IClassFixture<SharedMemorySiloFixture>;
