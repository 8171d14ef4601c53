using System.Net.Sockets;
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

    // No exception object: formatting its stack trace opens files, and this is logged when none may be left.
    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "Accepting on {Address} failed ({Error}: {Reason}); the listener keeps trying, backing off up to 1 s between tries, and says when it accepts again.")]
    internal static partial void AcceptFailed(ILogger logger, string address, SocketError error, string reason);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information, Message = "Accepting on {Address} again after {Failures} failed or refused tries.")]
    internal static partial void AcceptingAgain(ILogger logger, string address, int failures);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Warning, Message = "Refusing connections on {Address}: this process has descriptor {Descriptor} open of its limit of {Limit} (RLIMIT_NOFILE), and keeps the last {Reserve} for its own threads and files; connections are closed as they arrive until some end, and the listener says when it accepts again.")]
    internal static partial void NearDescriptorLimit(ILogger logger, string address, int descriptor, ulong limit, int reserve);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Information, Message = "Connection {ConnectionId} on {Address} was disposed with bytes still queued, and the peer took none of them for {CloseTimeoutMs} ms (UnixSocketTransportOptions.CloseTimeout): the rest was discarded.")]
    internal static partial void DrainAbandoned(ILogger logger, string connectionId, string address, double closeTimeoutMs);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Refused a connection on {Address}: the peer (pid {PeerPid}) does not satisfy the code requirement '{Requirement}' (UnixSocketTransportOptions.PeerCodeRequirement).")]
    internal static partial void PeerCodeRefused(ILogger logger, string address, int? peerPid, string requirement, Exception exception);
}
