namespace Sandgrain.Transport;

/// <summary>
/// Who is at the other end of a connection, as the kernel reports it (<c>SO_PEERCRED</c> on Linux,
/// <c>LOCAL_PEERCRED</c>/<c>LOCAL_PEERPID</c> on macOS). Present in every Sandgrain connection's features.
/// </summary>
public interface IPeerIdentityFeature
{
    /// <summary>The peer's effective user id.</summary>
    uint UserId { get; }

    /// <summary>The peer's process id as seen from this process's PID namespace, or null where the kernel does not say (or the peer is in another namespace).</summary>
    int? ProcessId { get; }
}

/// <summary>The kernel-reported identity of a peer.</summary>
/// <param name="UserId">The peer's effective user id.</param>
/// <param name="ProcessId">The peer's process id, when known.</param>
public sealed record PeerIdentity(uint UserId, int? ProcessId) : IPeerIdentityFeature;
