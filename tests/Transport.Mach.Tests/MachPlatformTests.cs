using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// Selecting the Mach transport where there is no Mach fails at configuration time with a message that says
/// what to use instead, never at the first call.
/// </summary>
public sealed class MachPlatformTests
{
    private const string Expected = "The Mach transport needs macOS (Mach IPC); on this platform use 'unix' or 'shm'";

    [Fact]
    public void Constructing_OffMacOS_ThrowsPlatformNotSupported_WithWhatToUseInstead()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        using var container = new TestContainer();
#pragma warning disable CA1416 // Constructing it where Mach is missing is exactly what is tested.
        var e = Assert.Throws<PlatformNotSupportedException>(() => new MachTransport(container.Container));
#pragma warning restore CA1416
        Assert.Contains(Expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddingItToAHost_OffMacOS_ThrowsAtRegistration()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        var services = new ServiceCollection();
#pragma warning disable CA1416 // Registering it where Mach is missing is exactly what is tested.
        var e = Assert.Throws<PlatformNotSupportedException>(() => services.AddSandgrainMachTransport());
#pragma warning restore CA1416
        Assert.Contains(Expected, e.Message, StringComparison.Ordinal);
        Assert.Empty(services);
    }

    [Fact]
    public void OnMacOS_ItConstructs_AndRegistersOnce()
    {
        if (!OperatingSystem.IsMacOS())
        {
            Assert.Skip("needs macOS (Mach IPC)");
            return;
        }

        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        Assert.Equal(TransportAddress.MachScheme, transport.Scheme);
        Assert.Same(container.Container, transport.Container);

        var services = new ServiceCollection();
        services.AddSandgrainMachTransport().AddSandgrainMachTransport(o => o.QueueLimit = 32);
        Assert.Single(services, d => d.ServiceType == typeof(ISandgrainTransport));
        Assert.Single(services, d => d.ServiceType == typeof(MachTransport));
    }
}
