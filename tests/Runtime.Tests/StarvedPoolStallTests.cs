using System.Diagnostics;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Blocking code starves the thread pool as often as it holds a receive thread (sync-over-async is the usual cause of
/// both), so the guard against a held receive thread must not itself wait for a pool thread: with every pool thread
/// blocked, a caller whose continuation blocks still gets the responses that follow.
/// </summary>
public abstract class StarvedPoolStallTests(SiloFixture silo)
{
    [Fact]
    public async Task ACallerWhoseContinuationBlocks_WhileEveryPoolThreadIsBlocked_StillGetsLaterResponses()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>($"starved-a-{silo.TransportScheme}");
        var other = silo.Factory.GetGrain<ICounterActor>($"starved-b-{silo.TransportScheme}");
        await other.Get();
        await counter.Get();

        // Not disposed: the queued work items still to run look at it after the test.
        var poolReleased = new ManualResetEventSlim();
        using var continuationReleased = new ManualResetEventSlim();
        var blocked = Task.CompletedTask;
        try
        {
            PoolStarvation.Start(poolReleased);
            blocked = BlockAfterAsync(counter, continuationReleased);

            // From here on nothing is awaited: an await's continuation could need a pool thread. A response completes
            // its call on the receive thread that reads it, and this thread waits for that.
#pragma warning disable xUnit1031 // Blocking on purpose: no pool thread is free to run a continuation.
            var watch = Stopwatch.StartNew();
            var results = new List<int>();
            for (var i = 1; i <= 20; i++)
            {
                var add = other.Add(1);
                Assert.True(add.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), $"call {i} got no response in 30 s");
                results.Add(add.Result);
            }
#pragma warning restore xUnit1031

            // The pool stays starved far longer than this bound (the blocking work items outnumber the threads it
            // grows meanwhile); before, the watch's tick and the new read loop both waited for the pool to grow one.
            // (The time first: a stall past the silo's 3 s idle timeout also lets it collect the counter.)
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"20 calls behind a blocked continuation, with the pool starved, took {watch.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(Enumerable.Range(1, 20), results);
        }
        finally
        {
            continuationReleased.Set();
            poolReleased.Set();
        }

        await blocked;
    }

    private static async Task BlockAfterAsync(ICounterActor counter, ManualResetEventSlim released)
    {
        await counter.Get().ConfigureAwait(false);
        released.Wait(TimeSpan.FromSeconds(30));
    }

}

[Collection(StarvedPoolCollection.Name)]
public sealed class UnixStarvedPoolStallTests(UnixSiloFixture silo) : StarvedPoolStallTests(silo), IClassFixture<UnixSiloFixture>;

[Collection(StarvedPoolCollection.Name)]
public sealed class SharedMemoryStarvedPoolStallTests(SharedMemorySiloFixture silo) : StarvedPoolStallTests(silo), IClassFixture<SharedMemorySiloFixture>;

/// <summary>Blocks every thread of this process's pool.</summary>
internal static class PoolStarvation
{
    /// <summary>
    /// Queues far more blocking work items than the pool will grow threads for in the test's time, and returns once
    /// one runs: from then on every pool thread is busy, since an idle one would take the next queued item.
    /// </summary>
    internal static void Start(ManualResetEventSlim released)
    {
        var running = 0;
        for (var i = 0; i < 400; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(
                _ =>
                {
                    Interlocked.Increment(ref running);
                    released.Wait(TimeSpan.FromSeconds(60));
                },
                null);
        }

        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref running) > 0, TimeSpan.FromSeconds(30)), "no pool thread took a work item in 30 s");
        Assert.True(ThreadPool.PendingWorkItemCount > 0, "the pool ran every blocking work item: it is not starved");
    }
}

/// <summary>The starved-pool test blocks every pool thread of the test process: nothing else may run beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StarvedPoolCollection
{
    public const string Name = "Starved pool";
}
