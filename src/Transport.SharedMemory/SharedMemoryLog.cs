using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>Source-generated log messages of the shared-memory transport, with stable event ids.</summary>
internal static partial class SharedMemoryLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Refused a shared-memory connection on {Address}: {Reason}")]
    internal static partial void HandshakeRefused(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Removed {Count} segment file(s) left in {Folder} by processes that are gone.")]
    internal static partial void StaleSegmentsRemoved(ILogger logger, int count, string folder);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Closed shared-memory connection {ConnectionId} on {Address}: {Reason}")]
    internal static partial void SegmentCorrupt(ILogger logger, string connectionId, string address, string reason);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Debug, Message = "Shared-memory connection {ConnectionId} on {Address} uses {Mechanism} wake-ups and {Capacity}-byte rings.")]
    internal static partial void Connected(ILogger logger, string connectionId, string address, WakeMechanism mechanism, int capacity);
}
