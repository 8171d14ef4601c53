namespace Sandgrain;

/// <summary>Per-call settings for calls made in a scope, such as a deadline other than the default.</summary>
public static class ActorCall
{
    private static readonly AsyncLocal<TimeSpan?> s_timeout = new();

    /// <summary>
    /// The longest deadline a call, a configured timeout or a request from a peer may have: 24 days, within what
    /// the platform's timers can wait. Longer ones are refused with this limit in the message.
    /// </summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(24);

    internal static TimeSpan? TimeoutOverride => s_timeout.Value;

    /// <summary>
    /// Gives calls made until the returned scope is disposed (in this async flow) a different deadline:
    /// <c>using (ActorCall.WithTimeout(TimeSpan.FromSeconds(2))) { await actor.Slow(); }</c>.
    /// </summary>
    public static IDisposable WithTimeout(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero || timeout > MaxTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, $"A call timeout must be positive and at most {MaxTimeout.TotalDays:0} days (ActorCall.MaxTimeout).");
        }

        var previous = s_timeout.Value;
        s_timeout.Value = timeout;
        return new Scope(previous);
    }

    private sealed class Scope(TimeSpan? previous) : IDisposable
    {
        public void Dispose() => s_timeout.Value = previous;
    }
}
