using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.SharedMemory.Tests;

/// <summary>The transport contract with the default spin-then-park wake-ups.</summary>
public sealed class SharedMemoryConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "shm";

    protected override ISandgrainTransport CreateTransport(GroupContainer container) => new SharedMemoryTransport(container);
}

/// <summary>The transport contract with no spinning: every wait parks on the futex.</summary>
public sealed class SharedMemoryParkingConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "shm-park";

    protected override ISandgrainTransport CreateTransport(GroupContainer container) =>
        new SharedMemoryTransport(container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.Zero });
}

/// <summary>
/// The transport contract with the companion-socket doorbell, the fallback for macOS before 14.4, and segments as
/// named files in the container, as on macOS: the macOS path, run here.
/// </summary>
public sealed class SharedMemoryDoorbellConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    protected override string PeerTransportName => "shm-doorbell";

    protected override ISandgrainTransport CreateTransport(GroupContainer container) =>
        new SharedMemoryTransport(container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.Zero, ForceDoorbell = true, NamedSegments = true });
}
