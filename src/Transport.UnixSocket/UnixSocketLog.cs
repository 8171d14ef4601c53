using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>Source-generated log messages of the Unix-socket transport, with stable event ids.</summary>
internal static partial class UnixSocketLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning, Message = "Refused a connection on {Address}: the peer runs as uid {PeerUid} (pid {PeerPid}), this process as uid {OwnUid}.")]
    internal static partial void PeerUserRefused(ILogger logger, string address, uint peerUid, int? peerPid, uint ownUid);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Replaced a stale socket file at {Path}: nothing was listening on it (left by a process that exited).")]
    internal static partial void StaleSocketReplaced(ILogger logger, string path);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "Listening on {Address} ({Path}, {Kind}).")]
    internal static partial void Listening(ILogger logger, string address, string path, SocketPathKind kind);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Debug, Message = "Connection {ConnectionId} on {Address} ended: {Reason}.")]
    internal static partial void ConnectionEnded(ILogger logger, string connectionId, string address, string reason);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "Accepting on {Address} failed; the listener keeps accepting.")]
    internal static partial void AcceptFailed(ILogger logger, string address, Exception exception);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Refused a connection on {Address}: the peer (pid {PeerPid}) does not satisfy the code requirement '{Requirement}' (UnixSocketTransportOptions.PeerCodeRequirement).")]
    internal static partial void PeerCodeRefused(ILogger logger, string address, int? peerPid, string requirement, Exception exception);
}
