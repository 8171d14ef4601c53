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
/// transport's own <see cref="EndPoint"/> type, made from an address by <see cref="CreateEndPoint"/>.
/// </remarks>
public interface ISandgrainTransport : IConnectionListenerFactory, IConnectionFactory
{
    /// <summary>The address scheme this transport serves (<c>unix</c>, <c>shm</c>, <c>mach</c>).</summary>
    string Scheme { get; }

    /// <summary>The transport's endpoint for an address of its scheme.</summary>
    /// <exception cref="ArgumentException">The address has another scheme or breaks this transport's rules.</exception>
    EndPoint CreateEndPoint(TransportAddress address);

    /// <summary>A new, short, unused-looking address to listen on (the bind still checks it is free).</summary>
    TransportAddress CreateUniqueAddress();
}
