using System.Net;
using System.Net.Sockets;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// A Unix-domain-socket endpoint in the group container, made by <see cref="UnixSocketTransport.CreateEndPoint"/>
/// from an address such as <c>unix:s/7f3a</c>. Its path has been checked against the platform's
/// <c>sockaddr_un</c> limit and, when too long, planned through the documented fallback.
/// </summary>
public sealed class UnixSocketEndPoint : EndPoint
{
    internal UnixSocketEndPoint(TransportAddress address, SocketPathPlan plan)
    {
        Address = address;
        Plan = plan;
    }

    /// <summary>The address, relative to the group container.</summary>
    public TransportAddress Address { get; }

    /// <summary>The absolute path of the socket file.</summary>
    public string Path => Plan.FullPath;

    /// <inheritdoc />
    public override AddressFamily AddressFamily => AddressFamily.Unix;

    internal SocketPathPlan Plan { get; }

    /// <inheritdoc />
    public override string ToString() => Address.ToString();

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is UnixSocketEndPoint other && other.Path == Path;

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Path);
}
