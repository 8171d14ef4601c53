namespace Sandgrain.Runtime.Messaging;

/// <summary>The kind byte at the start of every frame (style.md item 6: kinds are explicit, never told apart by shape).</summary>
internal enum FrameKind : byte
{
    Hello = 1,
    Request = 2,
    Response = 3,
    Error = 4,
    Cancel = 5,
    Ping = 6,
    Pong = 7,
    Goodbye = 8,
    Proof = 9,
}

/// <summary>Why a call failed, as carried in an error frame.</summary>
internal enum ErrorKind : byte
{
    Application = 1,
    BadRequestBody = 2,
    NotHosted = 3,
    UnknownMethod = 4,
    CallCycle = 5,
    Cancelled = 6,
    Timeout = 7,
    Unavailable = 8,
    LimitExceeded = 9,
}

[Flags]
internal enum RequestFlags : byte
{
    None = 0,
    OneWay = 1,
    AlwaysInterleave = 2,
    ReadOnly = 4,
    Cancellable = 8,
}

/// <summary>The framing damage that closes a connection (as opposed to a bad body, which fails one call).</summary>
internal sealed class ProtocolViolationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A decoded request header; the arguments follow it in the frame.</summary>
internal readonly record struct RequestHeader(
    ulong CorrelationId,
    RequestFlags Flags,
    uint TimeoutMs,
    string Interface,
    string Key,
    uint MethodId,
    string[] Chain,
    string? TraceParent);
