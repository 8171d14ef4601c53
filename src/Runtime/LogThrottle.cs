namespace Sandgrain.Runtime;

/// <summary>
/// Lets a burst of warnings through and then one a window: a peer that opens thousands of bad connections must
/// not be able to fill the disk with the log lines about them. What was held back is counted and reported with
/// the next warning that gets through.
/// </summary>
internal sealed class LogThrottle(int burst, TimeSpan window)
{
    private readonly Lock _lock = new();
    private long _windowStart = Environment.TickCount64;
    private int _inWindow;
    private int _suppressed;

    /// <summary>True when this warning may be written; <paramref name="suppressed"/> is how many were held back before it.</summary>
    internal bool TryEnter(out int suppressed)
    {
        lock (_lock)
        {
            var now = Environment.TickCount64;
            if (now - _windowStart >= (long)window.TotalMilliseconds)
            {
                _windowStart = now;
                _inWindow = 0;
            }

            if (_inWindow < burst)
            {
                _inWindow++;
                suppressed = _suppressed;
                _suppressed = 0;
                return true;
            }

            _suppressed++;
            suppressed = 0;
            return false;
        }
    }
}
