using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Tests;

/// <summary>The per-connection timer that sweeps deadlines and watches the read loop.</summary>
public sealed class ConnectionWatchTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]
    [InlineData(20, 10)]
    [InlineData(10_000, 10)]
    public void ThePeriod_IsWholeMilliseconds_FromOneToTen(int thresholdMs, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), ConnectionWatch.PeriodFor(TimeSpan.FromMilliseconds(thresholdMs)));

    [Fact]
    public async Task WithTheSmallestThreshold_TheWatchKeepsTicking_AndSurvivesASweepThatThrows()
    {
        var ticks = 0;
        var failures = 0;
        var fiveTicks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = new ConnectionWatch(
            ConnectionWatch.PeriodFor(TimeSpan.FromMilliseconds(1)),
            () =>
            {
                var tick = Interlocked.Increment(ref ticks);
                if (tick == 5)
                {
                    fiveTicks.TrySetResult();
                }

                if (tick == 2)
                {
                    throw new InvalidOperationException("a sweep that fails");
                }
            },
            () => true,
            _ => Interlocked.Increment(ref failures));
        watch.Arm();

        // Before, a 1 ms threshold gave a 0.5 ms period, which the timer takes as "no period": one tick, then none.
        await fiveTicks.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(1, Volatile.Read(ref failures));
    }
}

/// <summary>The watch's ticks come from a thread of its own, so a starved pool does not stop them.</summary>
[Collection(StarvedPoolCollection.Name)]
public sealed class ConnectionWatchStarvedPoolTests
{
    [Fact]
    public void WithEveryPoolThreadBlocked_TheWatchStillTicks()
    {
        var ticks = 0;
        using var fiveTicks = new ManualResetEventSlim();
        using var watch = new ConnectionWatch(
            TimeSpan.FromMilliseconds(5),
            () =>
            {
                if (Interlocked.Increment(ref ticks) == 5)
                {
                    fiveTicks.Set();
                }
            },
            () => true,
            _ => { });

        // Not disposed: the queued work items still to run look at it after the test.
        var poolReleased = new ManualResetEventSlim();
        try
        {
            PoolStarvation.Start(poolReleased);
            watch.Arm();

            // Five 5 ms ticks; a tick that needed a pool thread would wait for the pool to grow one (about 0.5 s each).
            Assert.True(fiveTicks.Wait(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken), $"{Volatile.Read(ref ticks)} ticks in 1 s with the pool starved");
        }
        finally
        {
            poolReleased.Set();
        }
    }
}
