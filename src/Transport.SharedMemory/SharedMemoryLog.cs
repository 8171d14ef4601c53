using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>Source-generated log messages of the shared-memory transport, with stable event ids.</summary>
internal static partial class SharedMemoryLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Refused a shared-memory connection on {Address}: {Reason}{Suppressed}")]
    private static partial void HandshakeRefused(ILogger logger, string address, string reason, string suppressed);

    /// <summary>At most 20 a second (SECURITY.md): the peers refused here are the ones that could flood the log.</summary>
    private static readonly LogThrottle s_handshakeRefused = new(20, TimeSpan.FromSeconds(1));

    internal static void HandshakeRefused(ILogger logger, string address, string reason)
    {
        if (s_handshakeRefused.TryEnter(logger, out var note))
        {
            HandshakeRefused(logger, address, reason, note);
        }
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Removed {Count} segment file(s) left in {Folder} by processes that are gone.")]
    internal static partial void StaleSegmentsRemoved(ILogger logger, int count, string folder);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Closed shared-memory connection {ConnectionId} on {Address}: {Reason}")]
    internal static partial void SegmentCorrupt(ILogger logger, string connectionId, string address, string reason);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Debug, Message = "Shared-memory connection {ConnectionId} on {Address} uses {Mechanism} wake-ups and {Capacity}-byte rings.")]
    internal static partial void Connected(ILogger logger, string connectionId, string address, WakeMechanism mechanism, int capacity);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Information, Message = "Shared-memory connection {ConnectionId} on {Address} was disposed with bytes still queued, and the peer took none of them for {CloseTimeoutMs} ms (SharedMemoryTransportOptions.CloseTimeout): the rest was discarded.")]
    internal static partial void DrainAbandoned(ILogger logger, string connectionId, string address, double closeTimeoutMs);
}
