using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Sandgrain.Transport.Abstractions.Tests;

/// <summary>
/// A user's program that calls only Sandgrain's public API builds with no warning under a user's own settings
/// (default analyzers, CA1416 on, warnings as errors): tests/PublicApiConsumer, which is outside the solution and
/// does not import the repository's build settings. Sandgrain's assemblies were once marked unsupported on
/// Windows as a whole, which gave such a program a CA1416 warning at every call.
/// </summary>
public sealed partial class PublicApiConsumerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task AProgramUsingThePublicApi_BuildsWithNoWarning()
    {
        var repository = new DirectoryInfo(AppContext.BaseDirectory);
        while (repository is not null && !File.Exists(Path.Combine(repository.FullName, "Sandgrain.slnx")))
        {
            repository = repository.Parent;
        }

        Assert.NotNull(repository);
        var project = Path.Combine(repository.FullName, "tests", "PublicApiConsumer", "PublicApiConsumer.csproj");

        // The libraries were built with this test project (build-only references), in its configuration; the consumer
        // builds only itself, so that it never rebuilds them under a build that is running them.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var (exit, log) = await DotnetAsync("build", project, "-c", configuration, "--no-dependencies", "-nologo", "-nodeReuse:false");
        output.WriteLine(log);

        Assert.True(exit == 0, $"dotnet build of the consumer exited with {exit}:\n{log}");
        Assert.DoesNotContain(log.Split('\n'), line => WarningLine().IsMatch(line) && !NoWarningsSummary().IsMatch(line));
    }

    private static async Task<(int ExitCode, string Log)> DotnetAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(BuildTimeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {BuildTimeout}:\n{await stdout}{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex(@"\bwarning\b", RegexOptions.IgnoreCase)]
    private static partial Regex WarningLine();

    [GeneratedRegex(@"^\s*0 Warning\(s\)\s*$")]
    private static partial Regex NoWarningsSummary();
}
