using System.Diagnostics;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Blocking code starves the thread pool as often as it holds a receive thread (sync-over-async is the usual cause of
/// both), so the guard against a held receive thread must not itself wait for a pool thread: with every pool thread
/// blocked, a caller whose continuation blocks still gets the response that follows, within a second.
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
        Stopwatch watch;
        int first;
        try
        {
            PoolStarvation.Start(poolReleased);
            blocked = BlockAfterAsync(counter, continuationReleased);

            // One call while the pool is starved: its response can only be read once the watch has taken the reading
            // over from the blocked thread, which is what must not wait for the pool. Not awaited: an await's
            // continuation could need a pool thread; the response completes the call on the receive thread that
            // reads it, and this thread waits for that.
#pragma warning disable xUnit1031 // Blocking on purpose: no pool thread is free to run a continuation.
            watch = Stopwatch.StartNew();
            var add = other.Add(1);
            Assert.True(add.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "no response in 30 s behind a blocked continuation with the pool starved");
            first = add.Result;
#pragma warning restore xUnit1031
            watch.Stop();
        }
        finally
        {
            poolReleased.Set();
        }

        try
        {
            // Before, the watch's tick and the new read loop both waited for the pool to grow a thread (3–7 s here).
            // Only this call is held to the starved pool: other parts of a call may still use the pool (a send that
            // finds the socket full, a failure's continuation), and the promise is about the takeover.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"a call behind a blocked continuation, with the pool starved, took {watch.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(1, first);

            // The connection goes on serving with its reading taken over.
            for (var i = 2; i <= 20; i++)
            {
                Assert.Equal(i, await other.Add(1));
            }
        }
        finally
        {
            continuationReleased.Set();
            await blocked;
        }
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
