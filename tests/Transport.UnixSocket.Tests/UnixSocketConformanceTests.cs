using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary>The transport contract with the default poll-then-block receive.</summary>
public sealed class UnixSocketConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "unix";

    // A process that exits and one that is killed close their sockets alike; only a reset (unread bytes) is told apart.
    protected override bool TellsAKilledPeerFromAClosedOne => false;

    protected override ISandgrainTransport CreateTransport(GroupContainer container) => new UnixSocketTransport(container);
}

/// <summary>The transport contract with no polling: every receive blocks in recv() at once.</summary>
public sealed class UnixSocketBlockingConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "unix-block";

    protected override bool TellsAKilledPeerFromAClosedOne => false;

    protected override ISandgrainTransport CreateTransport(GroupContainer container) =>
        new UnixSocketTransport(container, new UnixSocketTransportOptions { SpinDuration = TimeSpan.Zero });
}
