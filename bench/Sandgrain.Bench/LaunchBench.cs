using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Sandgrain.Bench;

/// <summary>
/// W4, the launch alone: from <see cref="ISiloDirectory.StartHelperAsync"/> to the helper's record being visible, for
/// a helper that hosts nothing (this same executable in <c>minimal-helper</c> mode: an empty host with the runtime).
/// </summary>
internal static class LaunchBench
{
    private const string Group = "ABCDE12345.com.example.bench";

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var runs = options.GetInt("runs", 10);
        var root = Path.Combine("/tmp", "sg-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var builder = Host.CreateApplicationBuilder(
            [
                "--Sandgrain:GroupId=" + Group,
                "--Sandgrain:ContainerPath=" + root,
                "--Sandgrain:Transports:0=unix",
                "--Sandgrain:Helpers:Minimal:Executable=" + Environment.ProcessPath,
                "--Sandgrain:Helpers:Minimal:Arguments:0=minimal-helper",
                "--Sandgrain:Helpers:Minimal:ActorTypes:0=None",

                // Each run kills the helper on purpose; that is not a crash loop.
                "--Sandgrain:Helpers:Minimal:MaxCrashes=1000",
            ]);
            builder.Logging.ClearProviders();
            builder.Services.AddSandgrainUnixSocketTransport();
            builder.UseSandgrain();
            using var host = builder.Build();
            await host.StartAsync();
            var silos = host.Services.GetRequiredService<ISiloDirectory>();
            var times = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                var helper = await silos.StartHelperAsync("Minimal");
                times.Add(watch.Elapsed.TotalMilliseconds);
                using var process = Process.GetProcessById(helper.ProcessId);
                process.Kill();
                await process.WaitForExitAsync();
            }

            await host.StopAsync();
            times.Sort();
            Report.Line("sandgrain", "W4", times[times.Count / 2], "ms", Report.BuildNote($"launch-alone,StartHelperAsync-to-record,median-of-{runs},JIT-helper-hosting-nothing"));
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

    /// <summary>The helper side: the runtime in an empty host, hosting nothing, until killed.</summary>
    public static async Task<int> RunMinimalHelperAsync()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSandgrainUnixSocketTransport();
        builder.Services.AddSandgrain();
        builder.Services.Configure<SandgrainOptions>(_ => { });
        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }
}
