using System.Diagnostics;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;

namespace Sandgrain.Bench;

/// <summary>
/// W4, the launch alone: from <see cref="HelperLauncher.EnsureRunningAsync"/> to the helper's record being
/// visible, for a helper that does nothing but register (this same executable in <c>minimal-helper</c> mode).
/// </summary>
internal static class LaunchBench
{
    private const string Group = "ABCDE12345.com.example.bench";

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var runs = options.GetInt("runs", 10);
        var root = Path.Combine("/tmp", "sg-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var container = GroupContainer.Open(GroupId.Parse(Group), root);
            using var registry = new SiloRegistry(container);
            var launcher = new HelperLauncher(container, registry, new Dictionary<string, HelperOptions>
            {
                // Each run kills the helper on purpose; that is not a crash loop.
                ["Minimal"] = new() { Executable = Environment.ProcessPath!, Arguments = ["minimal-helper"], MaxCrashes = 1000 },
            });
            var times = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                var record = await launcher.EnsureRunningAsync("Minimal");
                times.Add(watch.Elapsed.TotalMilliseconds);
                using var helper = Process.GetProcessById(record.ProcessId);
                helper.Kill();
                await helper.WaitForExitAsync();
                registry.Reap();
            }

            times.Sort();
            Report.Line("sandgrain", "W4", times[times.Count / 2], "ms", Report.BuildNote($"launch-alone,EnsureRunningAsync-to-record,median-of-{runs},JIT-helper"));
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public static int RunMinimalHelper()
    {
        var launch = LaunchEnvironment.FromEnvironment() ?? throw new InvalidOperationException("minimal-helper is started by the launcher");
        var container = GroupContainer.Open(GroupId.Parse(launch.GroupId), launch.ContainerPath);
        using var registry = new SiloRegistry(container);
        using var registration = registry.Publish(new SiloRecord
        {
            SiloId = launch.SiloId,
            Helper = launch.Helper,
            ProcessId = Environment.ProcessId,
            StartTime = DateTimeOffset.UtcNow,
            ProtocolVersion = 1,
        });
        Thread.Sleep(Timeout.Infinite);
        return 0;
    }
}
