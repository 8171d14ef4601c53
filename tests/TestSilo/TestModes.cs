using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Sandgrain;
using Sandgrain.Runtime.Discovery;
using Sandgrain.TestActors;
using Sandgrain.Transport;

/// <summary>
/// Modes of the test silo for the discovery stress tests:
/// <list type="bullet">
/// <item><c>--Test:WaitStress=&lt;ms&gt;</c>: many registry waits cancelled at random moments while records are written in a
/// loop; prints "STRESS OK &lt;waits&gt; &lt;writes&gt;" (an unhandled exception on a callback thread ends the process instead).</item>
/// <item><c>--Test:ReapLoop=&lt;ms&gt;</c>: reaps the registry in a tight loop; prints "READY", then "REAPED &lt;loops&gt;".</item>
/// <item><c>--Test:Probe=&lt;key&gt;</c> (a client): keeps calls going on a few counters, and answers each "PROBE" line on
/// stdin with "OK &lt;ms&gt; &lt;where&gt; &lt;retries&gt;" or "ERR &lt;ms&gt; &lt;exception&gt;" for one call to a fresh counter.</item>
/// </list>
/// </summary>
internal static class TestModes
{
    private const int Waiters = 32;
    private const int LoadLoops = 4;

    /// <summary>Runs a stand-alone mode named on the command line; null when none is.</summary>
    public static Task<int>? TryRun(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddCommandLine(args).Build();
        if (configuration["Test:WaitStress"] is { } stress)
        {
            return WaitStressAsync(Open(configuration), int.Parse(stress, System.Globalization.CultureInfo.InvariantCulture));
        }

        if (configuration["Test:ReapLoop"] is { } reap)
        {
            return Task.Run(() => ReapLoop(Open(configuration), int.Parse(reap, System.Globalization.CultureInfo.InvariantCulture)));
        }

        return null;
    }

    /// <summary>The client side of the kill-cycle test.</summary>
    public static async Task ProbeAsync(IActorFactory factory, string key)
    {
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, LoadLoops).Select(i => Task.Run(async () =>
        {
            var counter = factory.GetGrain<ICounterActor>($"{key}-load-{i}");
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await counter.Add(1);
                }
                catch (ActorCallException)
                {
                    // The helper was killed under this call, or is being started again.
                }
            }
        })).ToList();

        Console.WriteLine("WAITING");
        var probes = 0;
        while (Console.ReadLine() is "PROBE")
        {
            var counter = factory.GetGrain<ICounterActor>($"{key}-probe-{probes++}");
            var watch = Stopwatch.StartNew();
            var retries = 0;
            while (true)
            {
                try
                {
                    await counter.Add(1).WaitAsync(TimeSpan.FromSeconds(90));
                    Console.WriteLine($"OK {watch.Elapsed.TotalMilliseconds:F0} {await counter.WhereAmI()} {retries}");
                    break;
                }
                catch (ActorUnavailableException) when (watch.Elapsed < TimeSpan.FromSeconds(90))
                {
                    // Sent on the killed helper's connection before this process noticed it was gone: counted in the time.
                    retries++;
                }
                catch (Exception e)
                {
                    Console.WriteLine($"ERR {watch.Elapsed.TotalMilliseconds:F0} {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                    break;
                }
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(load);
    }

    private static GroupContainer Open(IConfiguration configuration) =>
        GroupContainer.Open(GroupId.Parse(configuration["Sandgrain:GroupId"]!), configuration["Sandgrain:ContainerPath"]);

    private static async Task<int> WaitStressAsync(GroupContainer container, int milliseconds)
    {
        using var registry = new SiloRegistry(container);

        // A slow subscriber first in line: every raise then runs the waiters' handlers half a millisecond after it
        // took its copy of them, time in which waits are cancelled and leave.
        registry.Changed += (_, _) =>
        {
            var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 2_000);
            while (Stopwatch.GetTimestamp() < until)
            {
            }
        };
        var deadline = Environment.TickCount64 + milliseconds;
        long waits = 0;
        long writes = 0;
        var writer = Task.Run(() =>
        {
            while (Environment.TickCount64 < deadline)
            {
                using var registration = registry.Publish(new SiloRecord { SiloId = SiloRecord.NewSiloId(), ProcessId = Environment.ProcessId, Addresses = ["unix:s/stress"] });
                registration.Update(registration.Record with { ActorTypes = ["IStress"] });
                Interlocked.Increment(ref writes);
            }
        });
        var waiters = Enumerable.Range(0, Waiters).Select(i => Task.Run(async () =>
        {
            var random = new Random(i);
            while (Environment.TickCount64 < deadline)
            {
                using var cancel = new CancellationTokenSource(TimeSpan.FromMicroseconds(random.Next(0, 2_000)));
                try
                {
                    await registry.WaitForAsync(_ => false, cancel.Token);
                }
                catch (OperationCanceledException)
                {
                }

                Interlocked.Increment(ref waits);
            }
        })).ToList();
        await Task.WhenAll(waiters.Append(writer));
        Console.WriteLine($"STRESS OK {waits} {writes}");
        return 0;
    }

    private static int ReapLoop(GroupContainer container, int milliseconds)
    {
        using var registry = new SiloRegistry(container);
        var deadline = Environment.TickCount64 + milliseconds;
        var loops = 0;
        Console.WriteLine("READY");
        while (Environment.TickCount64 < deadline)
        {
            registry.Reap();
            loops++;
        }

        Console.WriteLine($"REAPED {loops}");
        return 0;
    }
}
