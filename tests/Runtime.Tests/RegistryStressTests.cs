using System.Diagnostics;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// The registry under concurrency: waits cancelled while callbacks run, many readers checking one lock at once,
/// and silos publishing while other processes reap.
/// </summary>
public sealed class RegistryStressTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static string TestSilo => Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestSilo");

    [Fact]
    public async Task WaitForAsync_CancelledWhileRecordsAreWritten_NeverFailsACallbackThread()
    {
        // In a process of its own: an unhandled exception on a file-watcher or timer thread ends that process.
        var (code, stdout, stderr) = await Programs.RunAsync(TestSilo, TimeSpan.FromSeconds(60), [.. Arguments(), "--Test:WaitStress=4000"]);
        output.WriteLine(stdout);
        output.WriteLine(stderr);
        Assert.True(code == 0, $"the stress process exited with code {code}: {stderr}");
        var counts = stdout.Split('\n').Single(l => l.StartsWith("STRESS OK ", StringComparison.Ordinal)).Split(' ');
        Assert.True(long.Parse(counts[2], System.Globalization.CultureInfo.InvariantCulture) > 100, "too few waits to have stressed anything");
    }

    public void Dispose() => _container.Dispose();

    private string[] Arguments() =>
    [
        "--Sandgrain:GroupId=" + TestContainer.GroupIdText,
        "--Sandgrain:ContainerPath=" + _container.Container.Path,
    ];
}
