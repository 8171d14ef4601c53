using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Sandgrain.Transport;

/// <summary>
/// A Sandgrain transport: turns addresses into listeners and connections. Each connection is a reliable,
/// ordered, full-duplex byte stream exposed as the <see cref="ConnectionContext.Transport"/> pipe, with an
/// <see cref="IPeerIdentityFeature"/> and a <see cref="BaseConnectionContext.ConnectionClosed"/> token that fires
/// when the peer is gone. Framing is the caller's business.
/// </summary>
/// <remarks>
/// Built on <c>Microsoft.AspNetCore.Connections</c> so that Kestrel and Orleans can run over it:
/// <see cref="IConnectionListenerFactory.BindAsync"/> and <see cref="IConnectionFactory.ConnectAsync"/> take the
/// transport's own <see cref="EndPoint"/> type, made from an address by <see cref="CreateEndPoint"/>, and
/// <see cref="IConnectionListenerFactorySelector.CanBind"/> claims only that type, so that one Kestrel server can
/// listen on several transports and its own sockets at once.
/// </remarks>
public interface ISandgrainTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector, IConnectionFactory
{
    /// <summary>The address scheme this transport serves (<c>unix</c>, <c>shm</c>, <c>mach</c>).</summary>
    string Scheme { get; }

    /// <summary>
    /// Where this transport stands when a caller picks among those a callee offers: lower is preferred.
    /// Sandgrain's own are shared memory (100), Mach (200), Unix sockets (300).
    /// </summary>
    int Preference { get; }

    /// <summary>
    /// Null when this transport can bind and connect on this machine; otherwise why not, in words that say what to
    /// use instead (the Mach transport off macOS: "The Mach transport needs macOS …"). A host checks it before it
    /// listens, so that a transport listed in configuration but unusable here is a clear configuration error.
    /// </summary>
    string? UnsupportedReason { get; }

    /// <summary>The transport's endpoint for an address of its scheme.</summary>
    /// <exception cref="ArgumentException">The address has another scheme or breaks this transport's rules.</exception>
    EndPoint CreateEndPoint(TransportAddress address);

    /// <summary>A new, short, unused-looking address to listen on (the bind still checks it is free).</summary>
    TransportAddress CreateUniqueAddress();

    /// <summary>
    /// Removes what a listener at <paramref name="address"/> left behind when its process died (a socket file, a
    /// companion socket), so that a record of a dead process leaves nothing in the group container. Removes only
    /// files of this transport's own kind inside its own folder, never follows a path out of it, and never
    /// removes an endpoint a live process still listens on. Idempotent; does nothing for an address of another
    /// scheme, one this transport cannot serve, or a transport that leaves no files (Mach).
    /// </summary>
    /// <remarks>Call it only for an address whose owner is known to be gone (for example its registry lock is free).</remarks>
    void RemoveStaleEndpoint(TransportAddress address);
}
