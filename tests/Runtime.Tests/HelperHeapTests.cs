using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>The GC configuration the launcher gives a helper: small by default, never over the app's or the helper's own.</summary>
public sealed class HelperHeapTests : IDisposable
{
    private const string Gen0Variable = "DOTNET_GCgen0size";

    private readonly TestContainer _container = new();
    private readonly List<int> _helpers = [];

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(HelperHeap.Small, "400000")]
    [InlineData(HelperHeap.Runtime, null)]
    public async Task LaunchedHelper_GetsTheGen0BudgetOfItsHeapSetting(HelperHeap heap, string? expected)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("needs Linux: reads the helper's environment from /proc/<pid>/environ");
        }

        Assert.Null(Environment.GetEnvironmentVariable(Gen0Variable));
        using var registry = new SiloRegistry(_container.Container);
        var launcher = new HelperLauncher(_container.Container, registry, new Dictionary<string, HelperOptions>
        {
            ["Hub"] = new() { Executable = Programs.TestHelper, Arguments = ["serve"], StartTimeout = TimeSpan.FromSeconds(20), Heap = heap },
        });
        var record = await launcher.EnsureRunningAsync("Hub", Token);
        _helpers.Add(record.ProcessId);

        var environment = (await File.ReadAllTextAsync($"/proc/{record.ProcessId}/environ", Token)).Split('\0');
        var value = environment.FirstOrDefault(e => e.StartsWith(Gen0Variable + "=", StringComparison.Ordinal))?[(Gen0Variable.Length + 1)..];
        Assert.Equal(expected, value);
    }

    [Fact]
    public void ASettingOfTheAppsEnvironment_IsLeftAsItIs()
    {
        var environment = new Dictionary<string, string?> { [Gen0Variable] = "10000000" };
        HelperHeapSettings.ApplyTo(environment, HelperHeap.Small, Path.Combine(_container.Root, "none"));
        Assert.Equal("10000000", environment[Gen0Variable]);

        var legacy = new Dictionary<string, string?> { ["COMPlus_GCgen0size"] = "10000000" };
        HelperHeapSettings.ApplyTo(legacy, HelperHeap.Small, Path.Combine(_container.Root, "none"));
        Assert.False(legacy.ContainsKey(Gen0Variable));
    }

    [Theory]
    [InlineData("System.GC.Gen0Size")]
    [InlineData("GCgen0size")]
    public void ASettingOfTheHelpersRuntimeConfig_IsLeftAsItIs(string key)
    {
        var executable = Path.Combine(_container.Root, "Helper");
        File.WriteAllText(executable + ".runtimeconfig.json", $$"""{ "runtimeOptions": { "configProperties": { "{{key}}": 16777216 } } }""");
        var environment = new Dictionary<string, string?>();
        HelperHeapSettings.ApplyTo(environment, HelperHeap.Small, executable);
        Assert.False(environment.ContainsKey(Gen0Variable));
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("[1, 2]")]
    [InlineData("""{ "runtimeOptions": { "configProperties": 5 } }""")]
    public void AHelperRuntimeConfigThatCannotBeRead_IsIgnored_AndTheSmallHeapApplies(string text)
    {
        var executable = Path.Combine(_container.Root, "Helper.dll");
        File.WriteAllText(Path.Combine(_container.Root, "Helper.runtimeconfig.json"), text);
        var environment = new Dictionary<string, string?>();
        HelperHeapSettings.ApplyTo(environment, HelperHeap.Small, executable);
        Assert.Equal("400000", environment[Gen0Variable]);
    }

    [Fact]
    public void AnUndefinedHeapValue_IsRefusedWithTheOptionsName()
    {
        var error = new HelperOptions { Executable = "Hub", Heap = (HelperHeap)7 }.Validate("Hub");
        Assert.NotNull(error);
        Assert.Contains("Sandgrain:Helpers:Hub:Heap", error, StringComparison.Ordinal);
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
