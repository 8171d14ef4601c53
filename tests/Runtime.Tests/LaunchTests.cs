using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

public sealed class LaunchTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestContainer _container = new();
    private readonly List<int> _helpers = [];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private string StartsLog => Path.Combine(_container.Container.Path, "starts.log");

    private HelperLauncher Launcher(SiloRegistry registry, string mode = "serve", double startTimeoutSeconds = 20, string? executable = null) =>
        new(_container.Container, registry, new Dictionary<string, HelperOptions>
        {
            ["Hub"] = new() { Executable = executable ?? Programs.TestHelper, Arguments = [mode], StartTimeout = TimeSpan.FromSeconds(startTimeoutSeconds) },
        });

    [Fact]
    public async Task EnsureRunning_StartsTheHelperOnce_ThenReturnsItsRecord()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = Launcher(registry);
        var first = await launcher.EnsureRunningAsync("Hub", Token);
        _helpers.Add(first.ProcessId);
        Assert.Equal("Hub", first.Helper);
        var again = await launcher.EnsureRunningAsync("Hub", Token);
        Assert.Equal(first.SiloId, again.SiloId);
        Assert.Single(File.ReadAllLines(StartsLog));
    }

    [Fact]
    public async Task EightProcesses_AskingAtTheSameMoment_StartExactlyOneHelper()
    {
        var clients = new List<Process>();
        var ready = new List<Task>();
        for (var i = 0; i < 8; i++)
        {
            var start = new ProcessStartInfo(Programs.TestHelper) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "ensure", "--helper", "Hub", "--helper-exe", Programs.TestHelper, "--helper-mode", "serve", "--container", _container.Container.Path, "--group", TestContainer.GroupIdText, "--wait-for-go", "true" })
            {
                start.ArgumentList.Add(a);
            }

            var client = Process.Start(start)!;
            clients.Add(client);
            ready.Add(Task.Run(async () =>
            {
                while (await client.StandardOutput.ReadLineAsync(Token) is { } line && line != "WAITING")
                {
                }
            }, Token));
        }

        try
        {
            await Task.WhenAll(ready).WaitAsync(TimeSpan.FromSeconds(60), Token);
            foreach (var client in clients)
            {
                await client.StandardInput.WriteLineAsync("GO".AsMemory(), Token);
            }
            var records = await Task.WhenAll(clients.Select(async c =>
            {
                var line = await c.StandardOutput.ReadLineAsync(Token).AsTask().WaitAsync(TimeSpan.FromSeconds(60), Token);
                output.WriteLine($"client {c.Id}: {line} {await c.StandardError.ReadToEndAsync(Token)}");
                return line;
            }));

            Assert.All(records, r => Assert.StartsWith("RECORD ", r, StringComparison.Ordinal));
            var distinct = records.Distinct().ToList();
            Assert.Single(distinct);
            _helpers.Add(int.Parse(distinct[0]!.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Single(File.ReadAllLines(StartsLog));
        }
        finally
        {
            foreach (var c in clients)
            {
                if (!c.HasExited)
                {
                    c.Kill();
                }

                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task KilledHelper_IsReaped_AndTheNextCallStartsANewOne()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = Launcher(registry);
        var first = await launcher.EnsureRunningAsync("Hub", Token);
        Programs.Kill(first.ProcessId);

        var second = await launcher.EnsureRunningAsync("Hub", Token);
        _helpers.Add(second.ProcessId);
        Assert.NotEqual(first.ProcessId, second.ProcessId);
        Assert.NotEqual(first.SiloId, second.SiloId);
        Assert.DoesNotContain(registry.Snapshot(), e => e.Record.SiloId == first.SiloId);
    }

    [Fact]
    public async Task HelperThatCrashesDuringStart_FailsWithExitCodeAndStderr()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = Launcher(registry, mode: "crash", startTimeoutSeconds: 20);
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
        output.WriteLine(e.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20));
        Assert.Equal("Hub", e.Helper);
        Assert.Equal(42, e.ExitCode);
        Assert.Contains("device configuration file is missing", string.Join('\n', e.StandardErrorTail), StringComparison.Ordinal);
        Assert.Contains("exited with code 42", e.Message, StringComparison.Ordinal);
        Assert.Contains(Programs.TestHelper, e.PathsTried);
    }

    [Fact]
    public async Task HelperThatCrashesOnEveryStart_TripsTheRestartPolicy_AndRecoversAfterTheWindow()
    {
        using var registry = new SiloRegistry(_container.Container);
        var clock = new FakeTimeProvider();
        var launcher = new HelperLauncher(_container.Container, registry, new Dictionary<string, HelperOptions>
        {
            ["Hub"] = new() { Executable = Programs.TestHelper, Arguments = ["crash"], MaxCrashes = 2, RestartWindow = TimeSpan.FromMinutes(1) },
        }, timeProvider: clock);

        for (var i = 0; i < 2; i++)
        {
            var crash = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
            Assert.Equal(42, crash.ExitCode);
            clock.Advance(TimeSpan.FromSeconds(10));
        }

        // The third call does not start it: it fails at once with the recent exit codes and stderr.
        var fast = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
        output.WriteLine(fast.Message);
        Assert.Contains("crashed 2 times", fast.Message, StringComparison.Ordinal);
        Assert.Contains("exit codes: 42, 42", fast.Message, StringComparison.Ordinal);
        Assert.Contains("MaxCrashes", fast.Message, StringComparison.Ordinal);
        Assert.Contains("for another 40 s", fast.Message, StringComparison.Ordinal);
        Assert.Contains("device configuration file is missing", string.Join('\n', fast.StandardErrorTail), StringComparison.Ordinal);

        // Still inside the window...
        clock.Advance(TimeSpan.FromSeconds(39));
        Assert.Contains("crashed 2 times", (await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token))).Message, StringComparison.Ordinal);

        // ...and once the first crash has left the window, it is started again (and crashes again, with its own exit code).
        clock.Advance(TimeSpan.FromSeconds(1.5));
        var again = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
        Assert.Contains("exited with code 42", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelperThatNeverRegisters_FailsWithinTheStartTimeout_AndIsStopped()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = Launcher(registry, mode: "silent", startTimeoutSeconds: 2);
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
        output.WriteLine(e.Message);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(15));
        Assert.Contains("did not register within 2 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("StartTimeout", e.Message, StringComparison.Ordinal);
        // The helper notes its pid when it starts; on a loaded machine it may have been stopped before that.
        foreach (var line in File.Exists(StartsLog) ? File.ReadAllLines(StartsLog) : [])
        {
            var pid = int.Parse(line, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(HasExited(pid), $"the helper that never registered (pid {pid}) is still running");
        }
    }

    [Fact]
    public async Task MissingExecutable_ListsEveryPathTried()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = Launcher(registry, executable: "NoSuchHelper");
        var e = await Assert.ThrowsAsync<HelperStartException>(() => launcher.EnsureRunningAsync("Hub", Token));
        Assert.Contains(Path.Combine(AppContext.BaseDirectory, "NoSuchHelper"), e.PathsTried);
        Assert.Contains(Path.Combine(AppContext.BaseDirectory, "NoSuchHelper"), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BundlePaths_IncludeContentsMacOSAndHelpers()
    {
        using var registry = new SiloRegistry(_container.Container);
        var launcher = new HelperLauncher(_container.Container, registry, new Dictionary<string, HelperOptions>(), appDirectory: "/Applications/Sample.app/Contents/MacOS/");
        Assert.Equal(
            ["/Applications/Sample.app/Contents/MacOS/DeviceHub", "/Applications/Sample.app/Contents/Helpers/DeviceHub"],
            launcher.CandidatePaths("DeviceHub"));
    }

    [Fact]
    public async Task HelperStartedTwice_TheSecondExitsWithAClearMessage()
    {
        using var registry = new SiloRegistry(_container.Container);
        var first = await Launcher(registry).EnsureRunningAsync("Hub", Token);
        _helpers.Add(first.ProcessId);

        var start = new ProcessStartInfo(Programs.TestHelper, ["serve"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.Environment[LaunchEnvironment.ContainerVariable] = _container.Container.Path;
        start.Environment[LaunchEnvironment.GroupIdVariable] = TestContainer.GroupIdText;
        start.Environment[LaunchEnvironment.HelperVariable] = "Hub";
        start.Environment[LaunchEnvironment.SiloIdVariable] = SiloRecord.NewSiloId();
        using var second = Process.Start(start)!;
        var stderr = await second.StandardError.ReadToEndAsync(Token);
        await second.WaitForExitAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        Assert.Equal(3, second.ExitCode);
        Assert.Contains("another instance of helper 'Hub' is already running", stderr, StringComparison.Ordinal);
        Assert.Equal(first.SiloId, Assert.Single(registry.LiveSilos()).SiloId);
    }

    [Fact]
    public async Task Catalog_BindsFromConfiguration_AndBadEntriesSayWhatToChange()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Sandgrain:Helpers:DeviceHub:Executable"] = "DeviceHub",
            ["Sandgrain:Helpers:DeviceHub:Arguments:0"] = "--verbose",
            ["Sandgrain:Helpers:DeviceHub:ActorTypes:0"] = "IDeviceActor",
            ["Sandgrain:Helpers:DeviceHub:IdleTimeout"] = "00:00:30",
            ["Sandgrain:Helpers:DeviceHub:StartTimeout"] = "00:00:05",
        }).Build();
        var helpers = configuration.GetSection("Sandgrain:Helpers").Get<Dictionary<string, HelperOptions>>()!;
        var hub = helpers["DeviceHub"];
        Assert.Equal("DeviceHub", hub.Executable);
        Assert.Equal(["--verbose"], hub.Arguments);
        Assert.Equal(["IDeviceActor"], hub.ActorTypes);
        Assert.Equal(TimeSpan.FromSeconds(5), hub.StartTimeout);

        using var registry = new SiloRegistry(_container.Container);
        var e = Assert.Throws<ArgumentException>(() => new HelperLauncher(_container.Container, registry, new Dictionary<string, HelperOptions> { ["Bad"] = new() }));
        Assert.Contains("Sandgrain:Helpers:Bad:Executable", e.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => new HelperLauncher(_container.Container, registry, helpers).EnsureRunningAsync("Nope", Token));
        Assert.Contains("Sandgrain:Helpers:Nope", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_ListsTheLiveHelper_ReportsItStaleAfterKill_UntilReaped()
    {
        using var registry = new SiloRegistry(_container.Container);
        var record = await Launcher(registry).EnsureRunningAsync("Hub", Token);

        var (code, stdout, stderr) = await Programs.RunAsync(Programs.Cli, "ls", "--container", _container.Container.Path, "--json");
        Assert.True(code == 0, stderr);
        var silo = JsonDocument.Parse(stdout).RootElement.GetProperty("silos").EnumerateArray().Single();
        Assert.Equal(record.SiloId, silo.GetProperty("id").GetString());
        Assert.Equal("Hub", silo.GetProperty("helper").GetString());
        Assert.Equal(record.ProcessId, silo.GetProperty("pid").GetInt32());
        Assert.True(silo.GetProperty("alive").GetBoolean());
        Assert.Equal("ITestActor", silo.GetProperty("actorTypes")[0].GetString());

        Programs.Kill(record.ProcessId);
        (code, stdout, _) = await Programs.RunAsync(Programs.Cli, "ls", "--container", _container.Container.Path, "--json");
        Assert.Equal(0, code);
        Assert.False(JsonDocument.Parse(stdout).RootElement.GetProperty("silos")[0].GetProperty("alive").GetBoolean());

        (code, stdout, _) = await Programs.RunAsync(Programs.Cli, "ls", "--container", _container.Container.Path);
        output.WriteLine(stdout);
        Assert.Contains("stale", stdout, StringComparison.Ordinal);

        (code, stdout, _) = await Programs.RunAsync(Programs.Cli, "reap", "--container", _container.Container.Path, "--json");
        Assert.Equal(0, code);
        Assert.Equal(record.SiloId, JsonDocument.Parse(stdout).RootElement.GetProperty("reaped")[0].GetProperty("id").GetString());
        (_, stdout, _) = await Programs.RunAsync(Programs.Cli, "ls", "--container", _container.Container.Path, "--json");
        Assert.Empty(JsonDocument.Parse(stdout).RootElement.GetProperty("silos").EnumerateArray());
    }

    [Fact]
    public async Task Cli_UsageErrors_ExitWith2()
    {
        Assert.Equal(2, (await Programs.RunAsync(Programs.Cli)).ExitCode);
        Assert.Equal(2, (await Programs.RunAsync(Programs.Cli, "ls")).ExitCode);
        Assert.Equal(2, (await Programs.RunAsync(Programs.Cli, "frobnicate", "--group", "group.a.b")).ExitCode);
        var (code, stdout, _) = await Programs.RunAsync(Programs.Cli, "--help");
        Assert.Equal(0, code);
        Assert.Contains("exit codes", stdout, StringComparison.Ordinal);
    }

    private static bool HasExited(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    public void Dispose()
    {
        foreach (var pid in _helpers)
        {
            Programs.Kill(pid);
        }

        _container.Dispose();
    }
}
