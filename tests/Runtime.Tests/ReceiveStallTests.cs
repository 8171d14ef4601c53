using System.Diagnostics;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// Work runs on the thread that read its frame (no hop per call), so code that blocks that thread — an actor method
/// in the TestSilo process, a caller's continuation in this one — must cost a stall, never a stopped connection.
/// </summary>
public abstract class ReceiveStallTests(SiloFixture silo)
{
    private const int BlockMilliseconds = 2000;

    // Far below the block and far above the stall threshold (20 ms) plus a busy machine's scheduling noise.
    private static readonly TimeSpan NotHeldUp = TimeSpan.FromMilliseconds(BlockMilliseconds / 2);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string Key() => Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task AnActorMethodThatBlocksItsThread_DoesNotHoldUpAnotherCallOnTheSameConnection()
    {
        var blocker = silo.Factory.GetGrain<ICounterActor>(Key());
        var other = silo.Factory.GetGrain<ICounterActor>(Key());
        await blocker.Get();
        await other.Get();

        var blocking = blocker.BlockThread(BlockMilliseconds);
        var watch = Stopwatch.StartNew();
        Assert.Equal(1, await other.Add(1));
        var took = watch.Elapsed;

        Assert.Equal(BlockMilliseconds, await blocking);
        Assert.True(took < NotHeldUp, $"a call behind a blocking actor method took {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task ACallerWhoseContinuationBlocks_DoesNotStopLaterResponses()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        var other = silo.Factory.GetGrain<ICounterActor>(Key());
        await other.Get();

        var released = new ManualResetEventSlim();
        var blocked = BlockAfterAsync(counter, released);
        try
        {
            var watch = Stopwatch.StartNew();
            for (var i = 1; i <= 20; i++)
            {
                Assert.Equal(i, await other.Add(1));
            }

            Assert.True(watch.Elapsed < NotHeldUp, $"20 calls behind a blocked continuation took {watch.Elapsed.TotalMilliseconds:0} ms");
        }
        finally
        {
            released.Set();
            await blocked;
        }
    }

    [Fact]
    public async Task AContinuationThatWaitsSynchronouslyForAnotherCall_OnTheSameConnection_DoesNotDeadlock()
    {
        var counter = silo.Factory.GetGrain<ICounterActor>(Key());
        var other = silo.Factory.GetGrain<ICounterActor>(Key());
        await other.Get();

        var result = await WaitInsideContinuationAsync(counter, other).WaitAsync(TimeSpan.FromSeconds(30), Token);

        Assert.Equal(5, result);
    }

    /// <summary>Blocks the thread the response is delivered on, from the continuation, until released.</summary>
    private static async Task BlockAfterAsync(ICounterActor counter, ManualResetEventSlim released)
    {
        await counter.Get().ConfigureAwait(false);
        released.Wait(TimeSpan.FromSeconds(30));
    }

    /// <summary>Waits, without awaiting, for a second call whose response comes on the connection this thread reads.</summary>
    private static async Task<int> WaitInsideContinuationAsync(ICounterActor counter, ICounterActor other)
    {
        await counter.Get().ConfigureAwait(false);
#pragma warning disable xUnit1031 // Blocking on purpose: the test is that blocking here cannot deadlock the connection.
        return other.Add(5).GetAwaiter().GetResult();
#pragma warning restore xUnit1031
    }
}

public sealed class UnixReceiveStallTests(UnixSiloFixture silo) : ReceiveStallTests(silo), IClassFixture<UnixSiloFixture>;

public sealed class SharedMemoryReceiveStallTests(SharedMemorySiloFixture silo) : ReceiveStallTests(silo), IClassFixture<SharedMemorySiloFixture>;
