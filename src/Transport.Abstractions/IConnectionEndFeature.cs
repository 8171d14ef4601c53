namespace Sandgrain.Transport;

/// <summary>
/// How a connection ended, for software that must tell a peer that finished from one that was lost. A transport
/// reports the end here and through <c>ConnectionClosed</c>, never by throwing from the application's reads or
/// writes: the input delivers every byte that arrived before the end and then completes, and writes after the end
/// report the output completed. Present in every Sandgrain connection's features.
/// </summary>
public interface IConnectionEndFeature
{
    /// <summary>
    /// True once the peer is known to have gone without ending its stream: its process exited or was killed, or it
    /// aborted the connection. What it had sent was delivered, but it may have meant to send more. A Unix socket
    /// cannot tell a process that closed its socket from one that was killed; it reports a loss only when the
    /// kernel does (a reset).
    /// </summary>
    bool PeerLost { get; }

    /// <summary>Why the connection ended, as a sentence for a log or an error; null while it has not.</summary>
    string? EndReason { get; }
}
