using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport;

/// <summary>
/// Lets a burst of warnings through and then one a window: a peer that opens thousands of bad connections must
/// not be able to fill the disk with the log lines about them. What was held back is counted and reported with
/// the next warning that gets through.
/// </summary>
internal sealed class LogThrottle(int burst, TimeSpan window, Func<long>? clock = null)
{
    private readonly Lock _lock = new();
    private readonly Func<long> _clock = clock ?? (static () => Environment.TickCount64);
    private long _windowStart = long.MinValue / 2;
    private int _inWindow;
    private int _suppressed;

    /// <summary>
    /// True when a warning may be written now; <paramref name="note"/> is then what to append to it: empty, or how
    /// many were held back before it.
    /// </summary>
    internal bool TryEnter(ILogger logger, out string note)
    {
        note = "";
        if (!logger.IsEnabled(LogLevel.Warning) || !TryEnter(out var suppressed))
        {
            return false;
        }

        note = suppressed == 0 ? "" : $" ({suppressed} more were not logged)";
        return true;
    }

    /// <summary>True when this warning may be written; <paramref name="suppressed"/> is how many were held back before it.</summary>
    internal bool TryEnter(out int suppressed)
    {
        lock (_lock)
        {
            var now = _clock();
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
