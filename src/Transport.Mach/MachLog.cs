using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.Mach;

/// <summary>Source-generated log messages of the Mach transport, with stable event ids.</summary>
internal static partial class MachLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Debug, Message = "Listening on {Address}.")]
    internal static partial void Listening(ILogger logger, string address);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Debug, Message = "Connection {ConnectionId} on {Address} ended: {Reason}.")]
    internal static partial void ConnectionEnded(ILogger logger, string connectionId, string address, string reason);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Refused a connection on {Address}: the peer runs as uid {PeerUid} (pid {PeerPid}), this process as uid {OwnUid}.")]
    internal static partial void PeerUserRefused(ILogger logger, string address, uint peerUid, int peerPid, uint ownUid);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "Dropped a message (id 0x{MessageId:x8}) on {Address} sent by pid {SenderPid}; only pid {PeerPid}, which made the connection, may send on it.")]
    internal static partial void ForeignSenderDropped(ILogger logger, string address, int messageId, int senderPid, int peerPid);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "Rejected a malformed message (id 0x{MessageId:x8}) on {Address} from pid {SenderPid}: {Status}.")]
    internal static partial void MalformedMessage(ILogger logger, string address, int messageId, int senderPid, MachMessageStatus status);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Information, Message = "The Mach name {ServiceName} is still registered to a process that has exited; waiting up to {Timeout} for launchd to release it.")]
    internal static partial void WaitingForStaleName(ILogger logger, string serviceName, TimeSpan timeout);

    [LoggerMessage(EventId = 1306, Level = LogLevel.Warning, Message = "Setting up a connection on {Address} failed; the listener keeps accepting.")]
    internal static partial void AcceptFailed(ILogger logger, string address, Exception exception);

    [LoggerMessage(EventId = 1307, Level = LogLevel.Warning, Message = "Dropped a message on {Address} larger than the {Limit}-byte receive buffer (the kernel destroys it).")]
    internal static partial void MessageTooLarge(ILogger logger, string address, int limit);

    [LoggerMessage(EventId = 1308, Level = LogLevel.Warning, Message = "Refused a connection on {Address}: the peer speaks protocol version {PeerVersion}, this process {OwnVersion}.")]
    internal static partial void VersionRefused(ILogger logger, string address, uint peerVersion, uint ownVersion);

    [LoggerMessage(EventId = 1309, Level = LogLevel.Warning, Message = "Receiving on {Address} failed: {Error}; the listener stops.")]
    internal static partial void ListenerReceiveFailed(ILogger logger, string address, string error);
}
