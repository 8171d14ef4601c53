using Sandgrain.Transport;

namespace Sandgrain.Runtime.Tests;

/// <summary>Warnings a hostile peer can cause are throttled, and what was held back is counted.</summary>
public sealed class LogThrottleTests
{
    [Fact]
    public void Burst_PassesThenHoldsBack_AndTheNextWindowReportsTheCount()
    {
        long now = 1_000;
        var throttle = new LogThrottle(3, TimeSpan.FromMilliseconds(200), () => now);

        var passed = Enumerable.Range(0, 10).Count(_ => throttle.TryEnter(out _));
        Assert.Equal(3, passed);

        now += 250;
        Assert.True(throttle.TryEnter(out var suppressed));
        Assert.Equal(7, suppressed);
        Assert.True(throttle.TryEnter(out suppressed));
        Assert.Equal(0, suppressed);
    }
}
