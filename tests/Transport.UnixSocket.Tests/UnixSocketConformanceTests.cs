using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

public sealed class UnixSocketConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "unix";

    // A process that exits and one that is killed close their sockets alike; only a reset (unread bytes) is told apart.
    protected override bool TellsAKilledPeerFromAClosedOne => false;

    protected override ISandgrainTransport CreateTransport(GroupContainer container) => new UnixSocketTransport(container);
}
