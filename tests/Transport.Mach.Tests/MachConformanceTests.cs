using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

public sealed class MachConformanceTests(ITestOutputHelper output) : TransportConformanceTests(output)
{
    private const string NeedsMacOS = "needs macOS (Mach IPC)";

    protected override string PeerTransportName => "mach";

    protected override string? SkipReason => OperatingSystem.IsMacOS() ? null : NeedsMacOS;

    protected override ISandgrainTransport CreateTransport(GroupContainer container)
    {
        if (!OperatingSystem.IsMacOS())
        {
            throw new PlatformNotSupportedException(NeedsMacOS);
        }

        return new MachTransport(container);
    }
}
