using Microsoft.Extensions.DependencyInjection;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// The Mach transport checks no code requirement yet: where its host requires one of its peers, it declares itself
/// unsupported, so that the runtime leaves it out (or refuses to start when it is listed) instead of carrying
/// connections that would bypass the requirement.
/// </summary>
public sealed class MachPeerCodeHostileTests
{
    private const string TeamRequirement = "anchor apple generic and certificate leaf[subject.OU] = \"ABCDE12345\"";

    [Fact]
    public void HostWithACodeRequirement_MakesMachUnsupported_NamingTheRequirement()
    {
        using var container = new TestContainer();
        var services = new ServiceCollection().AddSingleton(container.Container);
        services.AddSandgrainUnixSocketTransport(o => o.PeerCodeRequirement = TeamRequirement);
        services.AddSandgrainMachTransport();
        using var provider = services.BuildServiceProvider();

        var reason = provider.GetRequiredService<MachTransport>().UnsupportedReason;
        Assert.NotNull(reason);
        Assert.Contains("does not check a peer's code signature", reason, StringComparison.Ordinal);
        Assert.Contains(TeamRequirement, reason, StringComparison.Ordinal);
        Assert.Contains("Sandgrain:Transports", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void HostWithoutARequirement_LeavesMachAsThePlatformHasIt()
    {
        using var container = new TestContainer();
        var services = new ServiceCollection().AddSingleton(container.Container);
        services.AddSandgrainUnixSocketTransport();
        services.AddSandgrainMachTransport();
        using var provider = services.BuildServiceProvider();

        var reason = provider.GetRequiredService<MachTransport>().UnsupportedReason;
        if (OperatingSystem.IsMacOS())
        {
            Assert.Null(reason);
        }
        else
        {
            Assert.Contains("needs macOS", reason, StringComparison.Ordinal);
        }
    }
}
