using System.Diagnostics;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// The registry under concurrency: waits cancelled while callbacks run, many readers checking one lock at once,
/// and silos publishing while other processes reap.
/// </summary>
[Collection(DiscoveryStressCollection.Name)]
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

    [Fact]
    public async Task ManyReadersCheckingADeadSilo_AtOnce_NeverSeeItAlive_AndTheReaperStillRemovesIt()
    {
        // A dead silo: its record, and its lock file held by nobody.
        using var registry = new SiloRegistry(_container.Container);
        var dead = new SiloRecord { SiloId = SiloRecord.NewSiloId(), Helper = "Gone", ProcessId = 1, Addresses = ["unix:s/gone"] };
        registry.Write(dead);
        File.WriteAllBytes(Path.Combine(registry.Path, dead.SiloId + ".lock"), []);

        // Readers in threads of their own, each opening the lock file for itself, as other processes would.
        var readers = Enumerable.Range(0, 4).Select(_ => new SiloRegistry(_container.Container)).ToList();
        using var stop = new CancellationTokenSource();
        var sawAlive = 0;
        var checks = 0;
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.WhenAll(readers.Select(reader => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (reader.LiveSilos().Count != 0)
                {
                    Interlocked.Increment(ref sawAlive);
                }

                if (Interlocked.Increment(ref checks) == 2_000)
                {
                    busy.TrySetResult();
                }
            }
        }, Token)));

        // While they keep checking, the reaper removes it: it waits out their checks instead of skipping the silo.
        await busy.Task.WaitAsync(TimeSpan.FromSeconds(30), Token);
        var reaping = Stopwatch.StartNew();
        var reaped = registry.Reap();
        reaping.Stop();
        await stop.CancelAsync();
        await reading.WaitAsync(TimeSpan.FromSeconds(30), Token);
        readers.ForEach(r => r.Dispose());
        output.WriteLine($"{checks} checks; the reap took {reaping.Elapsed.TotalMilliseconds:F1} ms");
        Assert.Equal(0, sawAlive);
        Assert.Equal(dead.SiloId, Assert.Single(reaped).SiloId);
        Assert.Empty(Directory.GetFiles(registry.Path));
    }

    [Fact]
    public async Task SilosPublishing_WhileOtherProcessesReap_AreAlwaysVisibleWithRecordAndLock()
    {
        const int Publishers = 3;
        const int Iterations = 300;
        var bound = TimeSpan.FromSeconds(8);

        // A reaper in another process and one in this one, in tight loops.
        var reapers = new List<Process>();
        for (var i = 0; i < 1; i++)
        {
            var start = new ProcessStartInfo(TestSilo) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in Arguments().Append("--Test:ReapLoop=60000"))
            {
                start.ArgumentList.Add(a);
            }

            var reaper = Process.Start(start)!;
            reapers.Add(reaper);
            Assert.Equal("READY", await reaper.StandardOutput.ReadLineAsync(Token).AsTask().WaitAsync(TimeSpan.FromSeconds(60), Token));
        }

        try
        {
            using var done = new CancellationTokenSource();
            var localReaper = Task.Run(() =>
            {
                using var registry = new SiloRegistry(_container.Container);
                while (!done.IsCancellationRequested)
                {
                    registry.Reap();
                }
            }, Token);

            var problems = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var published = 0;
            var watch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Publishers).Select(p => Task.Run(() =>
            {
                using var publisher = new SiloRegistry(_container.Container);
                using var reader = new SiloRegistry(_container.Container);
                for (var i = 0; i < Iterations && problems.IsEmpty && watch.Elapsed < bound; i++)
                {
                    var record = new SiloRecord { SiloId = SiloRecord.NewSiloId(), ProcessId = Environment.ProcessId, Addresses = ["unix:s/p" + p] };
                    SiloRegistration registration;
                    try
                    {
                        registration = publisher.Publish(record);
                    }
                    catch (Exception e) when (e is InvalidOperationException or IOException)
                    {
                        problems.Enqueue($"publish {i} of {p} failed: {e.Message}");
                        return;
                    }

                    Interlocked.Increment(ref published);
                    using (registration)
                    {
                        // Seen by another reader, twice: once at once, once after the reapers had time to run.
                        for (var look = 0; look < 2; look++)
                        {
                            if (!reader.LiveSilos().Any(r => r.SiloId == record.SiloId))
                            {
                                var lockFile = Path.Combine(reader.Path, record.SiloId + ".lock");
                                problems.Enqueue($"silo {record.SiloId} (publish {i} of {p}) is live but not seen: record {File.Exists(Path.Combine(reader.Path, record.SiloId + ".json"))}, lock file {File.Exists(lockFile)}, held {FileLock.IsHeld(lockFile)}");
                                return;
                            }

                            Thread.Yield();
                        }
                    }
                }
            }, Token))).WaitAsync(TimeSpan.FromSeconds(60), Token);

            await done.CancelAsync();
            await localReaper;
            output.WriteLine($"{published} silos published and checked in {watch.Elapsed.TotalSeconds:F1} s");
            Assert.True(problems.IsEmpty, string.Join("\n", problems));
            Assert.All(reapers, r => Assert.False(r.HasExited, "a reaper process failed: " + r.StandardError.ReadToEnd()));
        }
        finally
        {
            foreach (var reaper in reapers)
            {
                if (!reaper.HasExited)
                {
                    reaper.Kill();
                }

                reaper.Dispose();
            }
        }
    }

    public void Dispose() => _container.Dispose();

    private string[] Arguments() =>
    [
        "--Sandgrain:GroupId=" + TestContainer.GroupIdText,
        "--Sandgrain:ContainerPath=" + _container.Container.Path,
    ];
}
