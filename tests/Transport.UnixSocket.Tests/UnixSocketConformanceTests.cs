using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

public sealed class UnixSocketConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "unix";

    protected override ISandgrainTransport CreateTransport(GroupContainer container) => new UnixSocketTransport(container);
}
