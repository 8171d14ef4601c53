using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

public sealed class MachConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    private const string NeedsMacOS = "needs macOS (Mach IPC)";

    protected override string PeerTransportName => "mach";

    protected override string? SkipReason => OperatingSystem.IsMacOS() ? null : NeedsMacOS;

    // Its receive loop owns a kernel message buffer and cannot yet be handed to another thread: reads go to the pool.
    protected override bool OffersReceiveThread => false;

    protected override ISandgrainTransport CreateTransport(GroupContainer container)
    {
        if (!OperatingSystem.IsMacOS())
        {
            throw new PlatformNotSupportedException(NeedsMacOS);
        }

        return new MachTransport(container);
    }
}
