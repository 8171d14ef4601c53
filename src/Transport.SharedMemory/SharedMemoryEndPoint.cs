using System.Net;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// A shared-memory endpoint, made by <see cref="SharedMemoryTransport.CreateEndPoint"/> from an address such
/// as <c>shm:7f3a09c1</c>. Connections meet at its companion socket, <c>.sandgrain/shm/&lt;name&gt;</c>.
/// </summary>
public sealed class SharedMemoryEndPoint : EndPoint
{
    internal SharedMemoryEndPoint(TransportAddress address, UnixSocketEndPoint companion)
    {
        Address = address;
        Companion = companion;
    }

    /// <summary>The address.</summary>
    public TransportAddress Address { get; }

    internal UnixSocketEndPoint Companion { get; }

    /// <inheritdoc />
    public override string ToString() => Address.ToString();

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SharedMemoryEndPoint other && other.Address == Address;

    /// <inheritdoc />
    public override int GetHashCode() => Address.GetHashCode();
}
