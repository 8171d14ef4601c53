using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary>
/// macOS's socket-path limits are checked on every platform by default, so a configuration that would fail on a
/// user's Mac fails on Linux too; <see cref="UnixSocketTransportOptions.Platform"/> = Linux opts out.
/// </summary>
public sealed class MacOSRulesByDefaultTests
{
    // About 280 bytes of socket path: over macOS's 252-byte fallback, reachable on Linux through /proc/self/fd.
    private static string LongSubPath => string.Join('/', Enumerable.Repeat(new string('m', 60), 4));

    [Fact]
    public void OnLinux_ASocketPathNoMacCanReach_IsRefusedByDefault()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "asserts that Linux checks macOS's limits too");
        using var container = new TestContainer(subPath: LongSubPath);
        var e = Assert.Throws<SandboxNameException>(() => new UnixSocketTransport(container.Container));
        Assert.Contains("macOS", e.Message, StringComparison.Ordinal);
        Assert.Equal(SandboxNameRules.MacOSLongSocketPathMaxBytes, e.LimitBytes);
    }

    [Fact]
    public async Task OnLinux_PlatformLinux_OptsOut_AndTheLongPathWorksThroughProcFd()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the /proc/self/fd fallback is Linux's");
        using var container = new TestContainer(subPath: LongSubPath);
        var transport = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { Platform = SandboxPlatform.Linux });
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        Assert.Equal(SocketPathKind.LinuxProcFd, endpoint.Plan.Kind);
        await using var listener = await transport.BindAsync(endpoint, TestContext.Current.CancellationToken);
        await using var client = await transport.ConnectAsync(endpoint, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void PlatformMacOS_OnLinux_StillBindsTheLinuxWay()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "asserts the plan on Linux");
        using var container = new TestContainer(subPath: new string('d', 60) + "/" + new string('e', 60));
        var transport = new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { Platform = SandboxPlatform.MacOS });
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        Assert.Equal(SocketPathKind.LinuxProcFd, endpoint.Plan.Kind);
    }
}
