using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>What a received message is, once <see cref="MachMessageCodec.Decode"/> has recognized it.</summary>
internal enum MachMessageKind
{
    /// <summary>Not recognized (see the status).</summary>
    None,

    /// <summary>A client asks a listener for a connection and hands it a send right to the client's receive port.</summary>
    Connect,

    /// <summary>A listener accepts and hands the client a send right to the connection's receive port.</summary>
    ConnectReply,

    /// <summary>A listener refuses (another user, another protocol version).</summary>
    ConnectRefused,

    /// <summary>Stream bytes carried in the message body.</summary>
    InlineData,

    /// <summary>Stream bytes carried as one out-of-line memory region.</summary>
    OutOfLineData,

    /// <summary>The peer finished writing (half-close); it may still read.</summary>
    EndOfStream,

    /// <summary>A header-only message a process sends to its own port to end a blocking receive at once.</summary>
    WakeUp,

    /// <summary>Kernel: the port behind a send right we hold was destroyed (<c>MACH_NOTIFY_DEAD_NAME</c>).</summary>
    DeadName,

    /// <summary>Kernel: the last send right to our port went away (<c>MACH_NOTIFY_NO_SENDERS</c>).</summary>
    NoSenders,

    /// <summary>Kernel: a send-once right died unused (<c>MACH_NOTIFY_SEND_ONCE</c>).</summary>
    SendOnce,

    /// <summary>Kernel: a name with a pending notification request was deleted (<c>MACH_NOTIFY_PORT_DELETED</c>).</summary>
    PortDeleted,
}

/// <summary>
/// Why a received message was rejected. Every value other than <see cref="Valid"/> means the caller must
/// destroy the message (<c>mach_msg_destroy</c>) so that any rights or memory it carries are released.
/// </summary>
internal enum MachMessageStatus
{
    /// <summary>Well formed for its message id.</summary>
    Valid,

    /// <summary>The receive buffer cannot even hold a header and the audit trailer.</summary>
    BufferTooSmall,

    /// <summary><c>msgh_size</c> is smaller than the header (or than the body a complex message needs).</summary>
    SizeTooSmall,

    /// <summary><c>msgh_size</c> is not a multiple of 4, which the kernel never produces.</summary>
    SizeNotAligned,

    /// <summary><c>msgh_size</c> plus the audit trailer runs past the receive buffer.</summary>
    SizeBeyondBuffer,

    /// <summary>No format-0 trailer of at least the audit trailer's size follows the message.</summary>
    TrailerInvalid,

    /// <summary>The message carries a reply right or a voucher, which no Sandgrain message does.</summary>
    UnexpectedPortRights,

    /// <summary>The complex bit is set but the descriptor count is zero.</summary>
    ComplexWithoutDescriptors,

    /// <summary>More descriptors than any Sandgrain message has (one).</summary>
    TooManyDescriptors,

    /// <summary>The descriptors run past <c>msgh_size</c>.</summary>
    DescriptorBeyondMessage,

    /// <summary>The message id needs a descriptor but the complex bit is clear.</summary>
    MissingDescriptor,

    /// <summary>The message id has no descriptors but the complex bit is set.</summary>
    UnexpectedDescriptor,

    /// <summary>The descriptor's type is not the one this message id carries.</summary>
    WrongDescriptorType,

    /// <summary>The port descriptor's disposition is not a send right.</summary>
    WrongDisposition,

    /// <summary>The port descriptor names <c>MACH_PORT_NULL</c> or <c>MACH_PORT_DEAD</c>.</summary>
    InvalidPortName,

    /// <summary>The out-of-line region is empty or larger than <see cref="MachMessageCodec.MaxOutOfLineSize"/>.</summary>
    OutOfLineSizeOutOfRange,

    /// <summary>The out-of-line region's address is null.</summary>
    OutOfLineAddressInvalid,

    /// <summary>The out-of-line copy option is neither physical nor virtual copy.</summary>
    OutOfLineCopyInvalid,

    /// <summary>The inline length field is missing, zero, over <see cref="MachMessageCodec.InlineThreshold"/>, or past the message end.</summary>
    InlineLengthOutOfRange,

    /// <summary><c>msgh_size</c> is not the exact size this message id has.</summary>
    WrongSize,

    /// <summary>A handshake of another protocol version; the port is reported so that the listener can refuse it.</summary>
    UnsupportedVersion,

    /// <summary>A notification id whose audit token is not the kernel's: forged by a process.</summary>
    NotFromKernel,

    /// <summary>A message id Sandgrain does not send.</summary>
    UnknownMessageId,
}

/// <summary>Why a listener refused a connection, carried in a <see cref="MachMessageKind.ConnectRefused"/> message.</summary>
internal enum MachRefusal : uint
{
    /// <summary>Not a refusal.</summary>
    None = 0,

    /// <summary>The client runs as another user.</summary>
    OtherUser = 1,

    /// <summary>The client speaks another protocol version.</summary>
    UnsupportedVersion = 2,
}

/// <summary>The result of validating one received message; nothing in it is trusted unless <see cref="IsValid"/>.</summary>
internal readonly struct MachReceivedMessage
{
    public MachMessageStatus Status { get; init; }

    public MachMessageKind Kind { get; init; }

    /// <summary><c>msgh_id</c>, for logging.</summary>
    public int MessageId { get; init; }

    /// <summary><c>msgh_size</c>.</summary>
    public int Size { get; init; }

    /// <summary>True when the trailer was found, so that <see cref="Sender"/> is the kernel's record of the sender.</summary>
    public bool HasSender { get; init; }

    /// <summary>The sender's audit token from the trailer.</summary>
    public AuditToken Sender { get; init; }

    /// <summary>Inline data: where the payload starts in the buffer.</summary>
    public int PayloadOffset { get; init; }

    /// <summary>Inline data: the payload length.</summary>
    public int PayloadLength { get; init; }

    /// <summary>Out-of-line data: where the kernel mapped the region in this process.</summary>
    public ulong OutOfLineAddress { get; init; }

    /// <summary>Out-of-line data: the region's length.</summary>
    public int OutOfLineSize { get; init; }

    /// <summary>Handshakes: the send right received; dead-name and port-deleted notifications: the name concerned.</summary>
    public uint Port { get; init; }

    /// <summary>Handshakes: the sender's protocol version.</summary>
    public uint ProtocolVersion { get; init; }

    /// <summary>Refusals: why.</summary>
    public MachRefusal Refusal { get; init; }

    public bool IsValid => Status == MachMessageStatus.Valid;

    public override string ToString() => $"{Kind} (id 0x{MessageId:x8}, {Size} bytes): {Status}";
}
