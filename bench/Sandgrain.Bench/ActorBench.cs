using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport;

namespace Sandgrain.Bench;

/// <summary>
/// The actor workloads of bench/CONTRACT.md: a client silo in this process calls the echo actor hosted by a
/// server silo in a helper process that the launcher starts on the first call, as a user's app would.
/// </summary>
internal static class ActorBench
{
    private const string Group = "ABCDE12345.com.example.bench";

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var transport = options.Get("transport", "unix");

        // --helper-exe: the echo helper published separately (NativeAOT); the client stays this JIT process.
        var helperExe = options.Get("helper-exe", Environment.ProcessPath!);
        var aot = helperExe != Environment.ProcessPath;
        var helperKind = aot ? "NativeAOT-helper" : "JIT-helper";
        // --helper-heap: the GC configuration the launcher gives the helper (Small, the default, or Runtime).
        var heap = options.Get("helper-heap", "Small");
        var peer = "sandgrain-" + transport + (aot ? "-aot" : "");
        helperKind += ",helper-heap-" + heap;
        var note = Report.BuildNote("inline-scheduling" + (transport == "shm" ? ",spin-50us" : "") + "," + helperKind);
        var root = Path.Combine("/tmp", "sg-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var cold = await ColdStartAsync(root, transport, helperExe, heap, options.GetInt("w4-runs", 10));
            Report.Line(peer, "W4", Median(cold), "ms", Report.BuildNote($"spawn-by-launcher-to-first-Echo,median-of-{cold.Count},{helperKind}"));

            using var host = await StartClientAsync(root, transport, helperExe, heap);
            var factory = host.Services.GetRequiredService<IActorFactory>();
            var echo = factory.GetGrain<IEchoActor>("w1");
            var payload = new byte[64];
            await echo.Echo(payload);
            var serverPid = host.Services.GetRequiredService<ISiloDirectory>().LiveSilos().Single(r => r.Helper == "Echo").ProcessId;

            var rtts = new double[options.GetInt("w1-calls", 100_000)];
            var toUs = 1e6 / Stopwatch.Frequency;
            for (var i = -options.GetInt("w1-warmup", 10_000); i < rtts.Length; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await echo.Echo(payload);
                if (i >= 0)
                {
                    rtts[i] = (Stopwatch.GetTimestamp() - start) * toUs;
                }
            }

            Array.Sort(rtts);
            Report.Line(peer, "W1", rtts[rtts.Length / 2], "us_p50", note);
            Report.Line(peer, "W1", rtts[(int)(rtts.Length * 0.99)], "us_p99", note);
            Report.Line(peer, "W1", rtts[(int)(rtts.Length * 0.999)], "us_p999", note);
            await AllocationsAsync(factory, echo, payload, peer, note, options.GetInt("alloc-calls", 20_000));
            if (options.GetInt("alloc-types", 0) != 0)
            {
                await AllocationTypesAsync(factory, echo, payload, options.GetInt("alloc-calls", 20_000) * 5);
            }

            var perSecond = await ThroughputAsync(factory, payload, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
            Report.Line(peer, "W2", perSecond, "calls_per_s", note + ",64-in-flight,1s-warmup");
            Report.Line(peer, "RSS", PeakRssMiB(serverPid), "MiB", note + ",server-VmHWM-after-W2");

            // What the kernel must free when the helper is killed, before its sockets end (see FAIL and c-kill-eof).
            Report.Line(peer, "RSS", StatusMiB(serverPid, "RssAnon:"), "MiB", note + ",server-RssAnon-after-W2");

            var bulk = new byte[1 << 20];
            var sink = factory.GetGrain<IEchoActor>("w3");
            for (var i = 0; i < 20; i++)
            {
                await sink.Sink(bulk);
            }

            var w3Calls = options.GetInt("w3-calls", 2_000);
            var watch = Stopwatch.StartNew();
            for (var i = 0; i < w3Calls; i++)
            {
                await sink.Sink(bulk);
            }

            Report.Line(peer, "W3", (double)w3Calls * bulk.Length / watch.Elapsed.TotalSeconds / 1e6, "MB_per_s", note);

            var failures = await FailureNoticedAsync(host, factory, options.GetInt("fail-runs", 10));
            Report.Line(peer, "FAIL", Median(failures), "us", Report.BuildNote($"kill-9-to-in-flight-call-exception,median-of-{failures.Count}"));
            KillHelpers(host);
            await host.StopAsync();
            return 0;
        }
        finally
        {
            KillRemembered();
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public static async Task<int> RunServerAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Logging.ClearProviders();
        builder.Services.AddSandgrainUnixSocketTransport();
        builder.Services.AddSandgrainSharedMemoryTransport();
        builder.UseSandgrain(silo => silo.AddActor<IEchoActor, EchoActor>().AddActor<IBenchProbe, BenchProbe>());
        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }

    private static async Task<IHost> StartClientAsync(string root, string transport, string helperExe, string heap)
    {
        var builder = Host.CreateApplicationBuilder([
            "--Sandgrain:GroupId=" + Group,
            "--Sandgrain:ContainerPath=" + root,
            "--Sandgrain:Transports:0=" + transport,
            "--Sandgrain:Helpers:Echo:Executable=" + helperExe,
            "--Sandgrain:Helpers:Echo:Arguments:0=actors-server",
            "--Sandgrain:Helpers:Echo:Arguments:1=--Sandgrain:Transports:0=" + transport,
            "--Sandgrain:Helpers:Echo:ActorTypes:0=IEchoActor",
            "--Sandgrain:Helpers:Echo:ActorTypes:1=IBenchProbe",
            // The FAIL workload kills the helper on purpose, ten times in a row.
            "--Sandgrain:Helpers:Echo:MaxCrashes=1000",
            "--Sandgrain:Helpers:Echo:Heap=" + heap,
        ]);
        builder.Logging.ClearProviders();
        builder.Services.AddSandgrainUnixSocketTransport();
        builder.Services.AddSandgrainSharedMemoryTransport();
        builder.UseSandgrain();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>W4: from the first call (which makes the launcher spawn the helper) to its reply.</summary>
    private static async Task<List<double>> ColdStartAsync(string root, string transport, string helperExe, string heap, int runs)
    {
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            using var host = await StartClientAsync(root, transport, helperExe, heap);
            var echo = host.Services.GetRequiredService<IActorFactory>().GetGrain<IEchoActor>("cold");
            var watch = Stopwatch.StartNew();
            await echo.Echo(new byte[64]);
            times.Add(watch.Elapsed.TotalMilliseconds);
            KillHelpers(host);
            await host.StopAsync();
        }

        return times;
    }

    /// <summary>
    /// ALLOC and CSW (beyond the contract's workloads): bytes allocated and voluntary context switches per W1 call,
    /// in the client (this process) and in the server, over <paramref name="calls"/> calls after W1's warm-up.
    /// </summary>
    private static async Task AllocationsAsync(IActorFactory factory, IEchoActor echo, byte[] payload, string peer, string note, int calls)
    {
        var probe = factory.GetGrain<IBenchProbe>("probe");
        await probe.Sample();
        var server = await probe.Sample();
        var client = ProcessCounters.Sample();
        for (var i = 0; i < calls; i++)
        {
            await echo.Echo(payload);
        }

        var clientAfter = ProcessCounters.Sample();
        var serverAfter = await probe.Sample();
        Report.Line(peer, "ALLOC", (double)(clientAfter[0] - client[0]) / calls, "B_per_call", note + $",client,W1-64B,{calls}-calls");
        Report.Line(peer, "ALLOC", (double)(serverAfter[0] - server[0]) / calls, "B_per_call", note + $",server,W1-64B,{calls}-calls");
        if (client[1] >= 0)
        {
            Report.Line(peer, "CSW", (double)(clientAfter[1] - client[1]) / calls, "voluntary_per_call", note + $",client,W1,live-threads,{calls}-calls");
            Report.Line(peer, "CSW", (double)(serverAfter[1] - server[1]) / calls, "voluntary_per_call", note + $",server,W1,live-threads,{calls}-calls");
        }
    }

    /// <summary>The types behind ALLOC, on both sides, as comment lines on stderr (<c>--alloc-types 1</c>).</summary>
    private static async Task AllocationTypesAsync(IActorFactory factory, IEchoActor echo, byte[] payload, int calls)
    {
        var probe = factory.GetGrain<IBenchProbe>("probe");
        await probe.StartAllocationSampling();
        AllocationSampler.Start();
        for (var i = 0; i < calls; i++)
        {
            await echo.Echo(payload);
        }

        var client = AllocationSampler.Stop(15);
        var server = await probe.StopAllocationSampling();
        Console.Error.WriteLine($"# allocations sampled over {calls} W1 calls, client:");
        Array.ForEach(client, line => Console.Error.WriteLine("#   " + line));
        Console.Error.WriteLine("# server:");
        Array.ForEach(server, line => Console.Error.WriteLine("#   " + line));
    }

    private static async Task<double> ThroughputAsync(IActorFactory factory, byte[] payload, TimeSpan warmup, TimeSpan measured)
    {
        long completed = 0;
        var measuring = false;
        using var stop = new CancellationTokenSource();
        var callers = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            var echo = factory.GetGrain<IEchoActor>("w2-" + i);
            while (!stop.IsCancellationRequested)
            {
                await echo.Echo(payload);
                if (Volatile.Read(ref measuring))
                {
                    Interlocked.Increment(ref completed);
                }
            }
        })).ToList();
        await Task.Delay(warmup);
        Volatile.Write(ref measuring, true);
        var watch = Stopwatch.StartNew();
        await Task.Delay(measured);
        var count = Interlocked.Read(ref completed);
        var elapsed = watch.Elapsed;
        await stop.CancelAsync();
        await Task.WhenAll(callers);
        return count / elapsed.TotalSeconds;
    }

    /// <summary>FAIL: kill -9 of the server while a call is in flight, to that call's exception.</summary>
    private static async Task<List<double>> FailureNoticedAsync(IHost host, IActorFactory factory, int runs)
    {
        var silos = host.Services.GetRequiredService<ISiloDirectory>();
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var echo = factory.GetGrain<IEchoActor>("fail");
            await echo.Echo(new byte[64]); // launches (again) and connects
            var pid = silos.LiveSilos().Single(r => r.Helper == "Echo").ProcessId;
            var inFlight = Task.Run(async () =>
            {
                var big = new byte[1 << 20];
                while (true)
                {
                    await echo.Sink(big);
                }
            });
            await Task.Delay(20);
            using var victim = Process.GetProcessById(pid);
            var watch = Stopwatch.StartNew();
            victim.Kill();
            try
            {
                await inFlight;
            }
            catch (ActorUnavailableException)
            {
                times.Add(watch.Elapsed.TotalMicroseconds);
            }

            await victim.WaitForExitAsync();
        }

        return times;
    }

    private static double PeakRssMiB(int pid) => StatusMiB(pid, "VmHWM:");

    /// <summary>A kB field of /proc/&lt;pid&gt;/status in MiB (Linux).</summary>
    private static double StatusMiB(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }

        return double.NaN;
    }

    /// <summary>Helpers seen alive in this run, so that a run that fails half-way leaves none behind.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> s_helpers = new();

    /// <summary>Kills the helpers the client's directory lists (they outlive the client that launched them).</summary>
    private static void KillHelpers(IHost host)
    {
        foreach (var silo in host.Services.GetRequiredService<ISiloDirectory>().LiveSilos().Where(s => s.Helper is not null))
        {
            s_helpers[silo.ProcessId] = 0;
        }

        KillRemembered();
    }

    private static void KillRemembered()
    {
        foreach (var pid in s_helpers.Keys)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                process.WaitForExit();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // Gone already.
            }

            s_helpers.TryRemove(pid, out _);
        }
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        return values[values.Count / 2];
    }
}
