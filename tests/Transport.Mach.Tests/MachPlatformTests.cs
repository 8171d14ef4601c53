using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// The Mach transport can be constructed and registered everywhere, so that one program can register every
/// transport; where there is no Mach it says so through <see cref="ISandgrainTransport.UnsupportedReason"/> and
/// fails to bind or connect with that message, which says what to use instead.
/// </summary>
public sealed class MachPlatformTests
{
    private const string Expected = "The Mach transport needs macOS (Mach IPC); on this platform use 'unix' or 'shm'";

    [Fact]
    public void OffMacOS_ItConstructs_AndSaysItNeedsMacOS()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        Assert.Equal(MachTransport.AddressScheme, transport.Scheme);
        Assert.Contains(Expected, transport.UnsupportedReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OffMacOS_BindAndConnect_ThrowPlatformNotSupported_WithWhatToUseInstead()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        var endpoint = transport.CreateEndPoint(transport.CreateUniqueAddress());
        var bind = await Assert.ThrowsAsync<PlatformNotSupportedException>(async () => await transport.BindAsync(endpoint, TestContext.Current.CancellationToken));
        Assert.Contains(Expected, bind.Message, StringComparison.Ordinal);
        var connect = await Assert.ThrowsAsync<PlatformNotSupportedException>(async () => await transport.ConnectAsync(endpoint, TestContext.Current.CancellationToken));
        Assert.Contains(Expected, connect.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OffMacOS_NamesAreStillChecked_AsOnAMac()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        Assert.Throws<SandboxNameException>(() => transport.CreateEndPoint(TransportAddress.Parse("mach:ZZZZZ99999.other.sg.1")));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MachTransport(container.Container, new MachTransportOptions { QueueLimit = 0 }));
    }

    [Fact]
    public void AddingItToAHost_OffMacOS_RegistersIt_AndResolvingDoesNotThrow()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "macOS has Mach IPC; this asserts what happens everywhere else");
        using var container = new TestContainer();
        var services = new ServiceCollection();
        services.AddSingleton(container.Container);
        services.AddSandgrainMachTransport().AddSandgrainMachTransport(o => o.QueueLimit = 32);
        Assert.Single(services, d => d.ServiceType == typeof(ISandgrainTransport));
        using var provider = services.BuildServiceProvider();
        var transport = Assert.Single(provider.GetServices<ISandgrainTransport>());
        Assert.Contains(Expected, transport.UnsupportedReason, StringComparison.Ordinal);
    }

    [Fact]
    public void RemoveStaleEndpoint_ChecksTheAddress_AndRemovesNothing()
    {
        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        var before = Directory.GetFileSystemEntries(container.Root, "*", SearchOption.AllDirectories);
        transport.RemoveStaleEndpoint(transport.CreateUniqueAddress());
        Assert.Equal(before, Directory.GetFileSystemEntries(container.Root, "*", SearchOption.AllDirectories));
        Assert.Throws<SandboxNameException>(() => transport.RemoveStaleEndpoint(TransportAddress.Parse("mach:ZZZZZ99999.other.sg.1")));
        Assert.ThrowsAny<ArgumentException>(() => transport.RemoveStaleEndpoint(TransportAddress.Parse("unix:s/abc")));
    }

    [Fact]
    public void Preference_IsBetweenSharedMemoryAndUnixSockets()
    {
        using var container = new TestContainer();
        Assert.Equal(200, new MachTransport(container.Container).Preference);
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
        Assert.Equal(MachTransport.AddressScheme, transport.Scheme);
        Assert.Same(container.Container, transport.Container);

        var services = new ServiceCollection();
        services.AddSandgrainMachTransport().AddSandgrainMachTransport(o => o.QueueLimit = 32);
        Assert.Single(services, d => d.ServiceType == typeof(ISandgrainTransport));
        Assert.Single(services, d => d.ServiceType == typeof(MachTransport));
    }
}
