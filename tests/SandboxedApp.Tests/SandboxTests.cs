using System.Text.RegularExpressions;

namespace Sandgrain.SandboxedApp.Tests;

/// <summary>
/// The sample end to end, each app in its own bubblewrap sandbox: the App (which launches DeviceHub and
/// FrameSource inside its sandbox) and the Viewer (which finds FrameSource through the registry in the shared
/// group container). The same outcomes the sample prints are asserted, and that nothing was written outside the
/// container.
/// </summary>
public abstract partial class SandboxTests
{
    protected abstract string Transport { get; }

    [Fact]
    public async Task AppAndViewer_InSeparateSandboxes_ShareOnlyTheGroupContainer()
    {
        if (Sandbox.Unavailable is { } reason)
        {
            Assert.Skip(reason);
        }

        using var sandbox = Sandbox.Create();
        var transport = "--Sandgrain:Transports:0=" + Transport;
        using var app = sandbox.Start("app", "App", transport, "--Demo:StartViewer=false", "--Demo:FrameSeconds=6");
        using var viewer = sandbox.Start("viewer", "Viewer", transport, "--Viewer:Seconds=2", "--Viewer:WaitSeconds=50");

        var appExit = await app.WaitAsync(TimeSpan.FromSeconds(90));
        var viewerExit = await viewer.WaitAsync(TimeSpan.FromSeconds(60));
        var context = $"App output:\n{app.Output}\nApp errors:\n{app.Errors}\nViewer output:\n{viewer.Output}\nViewer errors:\n{viewer.Errors}";

        Assert.True(appExit == 0, context);
        Assert.True(viewerExit == 0, context);

        // Each helper launched once on its first call, DeviceHub once more after the crash.
        var launched = LaunchedPid().Matches(app.Output);
        Assert.Equal(["DeviceHub", "FrameSource"], launched.Select(m => m.Groups["helper"].Value));
        Assert.Matches(@"the in-flight call failed [0-9.]+ ms after the kill: ActorUnavailableException", app.Output);
        var relaunch = Relaunched().Match(app.Output);
        Assert.True(relaunch.Success, context);
        Assert.NotEqual(launched[0].Groups["pid"].Value, relaunch.Groups["pid"].Value);
        Assert.True(int.Parse(relaunch.Groups["opens"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2, context);

        // Frames through shared memory, every one checked pixel by pixel, none corrupt.
        var frames = AppFrames().Match(app.Output);
        Assert.True(frames.Success, context);
        Assert.True(int.Parse(frames.Groups["verified"].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, context);
        Assert.Equal("0", frames.Groups["corrupt"].Value);
        Assert.Contains("done", app.Output, StringComparison.Ordinal);

        // The Viewer found FrameSource through the registry and launched nothing.
        Assert.Contains("found FrameSource (pid " + launched[1].Groups["pid"].Value + ") through the registry, launched nothing", viewer.Output, StringComparison.Ordinal);
        var seen = ViewerFrames().Match(viewer.Output);
        Assert.True(seen.Success, context);
        Assert.True(int.Parse(seen.Groups["verified"].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, context);
        Assert.Equal("0", seen.Groups["corrupt"].Value);

        // Nothing written outside the container: each private /tmp holds only the folders bwrap made as mount points.
        Assert.Empty(Sandbox.FilesUnder(sandbox.PrivateTmp("app")));
        Assert.Empty(Sandbox.FilesUnder(sandbox.PrivateTmp("viewer")));
        Assert.True(Directory.Exists(Path.Combine(sandbox.Container, ".sandgrain", "registry")), context);
    }

    [GeneratedRegex(@"(?<helper>DeviceHub|FrameSource) launched on first call: pid (?<pid>\d+)")]
    private static partial Regex LaunchedPid();

    [GeneratedRegex(@"next call relaunched DeviceHub: pid (?<pid>\d+) after \d+ ms; usb:1234 has (?<opens>\d+) opens")]
    private static partial Regex Relaunched();

    [GeneratedRegex(@"(?<verified>\d+) frames verified pixel by pixel, (?<corrupt>\d+) corrupt")]
    private static partial Regex AppFrames();

    [GeneratedRegex(@"viewer: (?<verified>\d+) frames verified, (?<corrupt>\d+) corrupt")]
    private static partial Regex ViewerFrames();
}

public sealed class UnixSocketSandboxTests : SandboxTests
{
    protected override string Transport => "unix";
}

public sealed class SharedMemorySandboxTests : SandboxTests
{
    protected override string Transport => "shm";
}
