using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Sandgrain.Runtime.Generator.Tests;

public sealed class GeneratorTests
{
    private const string Contract = """
        using System.Threading;
        using System.Threading.Tasks;
        using Orleans;
        using Orleans.Concurrency;

        namespace Demo;

        public interface IDeviceActor : IGrainWithStringKey
        {
            Task<string> Open(string options, CancellationToken ct = default);
            [OneWay] Task Blink(int times);
            [AlwaysInterleave] ValueTask<int> Status();
            [ReadOnly] ValueTask Ping();
        }
        """;

    [Fact]
    public void GeneratedCode_MatchesTheSnapshot_AndCompiles()
    {
        var (compilation, diagnostics, generated) = Run(Contract);
        Assert.Empty(diagnostics);
        var source = Assert.Single(generated);
        Assert.Equal("Demo_IDeviceActor.Sandgrain.g.cs", source.HintName);

        var errors = compilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));

        var snapshot = Path.Combine(AppContext.BaseDirectory, "Snapshots", "Demo_IDeviceActor.Sandgrain.g.cs.txt");
        var text = source.SourceText.ToString().ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable("SANDGRAIN_UPDATE_SNAPSHOTS") == "1")
        {
            var checkedIn = Path.Combine(FindRepositoryRoot(), "tests", "Runtime.Generator.Tests", "Snapshots", Path.GetFileName(snapshot));
            File.WriteAllText(checkedIn, text);
        }

        Assert.True(File.Exists(snapshot), $"No snapshot at {snapshot}; run once with SANDGRAIN_UPDATE_SNAPSHOTS=1 and review it.");
        Assert.Equal(File.ReadAllText(snapshot).ReplaceLineEndings("\n"), text);
    }

    [Theory]
    [InlineData("int Add(int a);", "SG0001")]
    [InlineData("Task Move(ref int x);", "SG0002")]
    [InlineData("Task Load(out int x);", "SG0002")]
    [InlineData("int Count { get; }", "SG0003")]
    [InlineData("Task<T> Get<T>();", "SG0004")]
    [InlineData("[Orleans.Concurrency.OneWay] Task<int> Fire();", "SG0005")]
    [InlineData("Task Wait(System.Threading.CancellationToken a, System.Threading.CancellationToken b);", "SG0006")]
    public void UnsupportedSignatures_AreCompileErrors_WithAnIdAndAFix(string member, string id)
    {
        var (_, diagnostics, generated) = Run($$"""
            using System.Threading.Tasks;
            using Orleans;
            namespace Demo;
            public interface IBad : IGrainWithStringKey { {{member}} }
            """);
        var diagnostic = Assert.Single(diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.NotEqual(Location.None, diagnostic.Location);
        Assert.Empty(generated);
    }

    [Fact]
    public void GenericInterface_IsACompileError()
    {
        var (_, diagnostics, _) = Run("""
            using System.Threading.Tasks;
            using Orleans;
            public interface IBox<T> : IGrainWithStringKey { Task<T> Get(); }
            """);
        Assert.Equal("SG0007", Assert.Single(diagnostics).Id);
    }

    [Fact]
    public void MessagePackObjectsWithIntegerKeys_GetACompiledFormatter_OthersAreLeftToMessagePack()
    {
        var (compilation, diagnostics, generated) = Run("""
            using System.Collections.Generic;
            using MessagePack;
            namespace Demo;
            [MessagePackObject] public sealed class Options { [Key(0)] public string Client { get; set; } = ""; [Key(2)] public List<int> Ids { get; init; } = new(); [IgnoreMember] public int Scratch { get; set; } }
            [MessagePackObject] public struct Point { [Key(0)] public int X; [Key(1)] public int Y; }
            [MessagePackObject(true)] public sealed class ByName { public int A { get; set; } }
            [MessagePackObject] public sealed class StringKeys { [Key("a")] public int A { get; set; } }
            [MessagePackObject] public sealed class NoDefaultConstructor(int a) { [Key(0)] public int A { get; } = a; }
            """);
        Assert.Empty(diagnostics);
        Assert.Equal(["Demo_Options.Formatter.g.cs", "Demo_Point.Formatter.g.cs"], generated.Select(g => g.HintName).Order());
        var errors = compilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        var options = generated.Single(g => g.HintName == "Demo_Options.Formatter.g.cs").SourceText.ToString();
        Assert.Contains("writer.WriteArrayHeader(3);", options, StringComparison.Ordinal);
        Assert.Contains("writer.WriteNil();", options, StringComparison.Ordinal);
        Assert.DoesNotContain("Scratch", options, StringComparison.Ordinal);
    }

    [Fact]
    public void InterfacesThatAreNotActors_AreIgnored()
    {
        var (_, diagnostics, generated) = Run("""
            using System.Threading.Tasks;
            public interface IPlain : System.IDisposable { Task Work(); }
            """);
        Assert.Empty(diagnostics);
        Assert.Empty(generated);
    }

    [Fact]
    public void MethodIds_DependOnNameAndParameterTypes_Only()
    {
        var a = Ids(Contract);
        var reordered = Ids(Contract.Replace("[OneWay] Task Blink(int times);", "").Replace("public interface IDeviceActor : IGrainWithStringKey\n{", "public interface IDeviceActor : IGrainWithStringKey\n{\n    [OneWay] Task Blink(int times);"));
        Assert.Equal(a.OrderBy(x => x.Key), reordered.OrderBy(x => x.Key));

        // Known values: FNV-1a over the signature text, the same on every machine and build.
        Assert.Equal(Parser.MethodId("Blink(int)"), a["Blink"]);
        Assert.Equal(0x811c9dc5u, Parser.MethodId(""));   // FNV-1a 32-bit test vectors
        Assert.Equal(0xe40c292cu, Parser.MethodId("a"));
        Assert.NotEqual(Parser.MethodId("Blink(int)"), Parser.MethodId("Blink(long)"));
    }

    private static Dictionary<string, uint> Ids(string source)
    {
        var (_, _, generated) = Run(source);
        var text = Assert.Single(generated).SourceText.ToString();
        return text.Split('\n')
            .Where(l => l.Contains("new(0x", StringComparison.Ordinal))
            .Select(l => l.Trim())
            .ToDictionary(
                l => l.Split('"')[1],
                l => Convert.ToUInt32(l.Substring(l.IndexOf("0x", StringComparison.Ordinal) + 2, 8), 16));
    }

    private static (Compilation Compilation, ImmutableArray<Diagnostic> Diagnostics, ImmutableArray<GeneratedSourceResult> Generated) Run(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Concat([typeof(Orleans.IGrainWithStringKey).Assembly.Location, typeof(Sandgrain.IActorFactory).Assembly.Location, typeof(MessagePack.MessagePackWriter).Assembly.Location])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var parseOptions = new CSharpParseOptions(LanguageVersion.Preview);
        var compilation = CSharpCompilation.Create(
            "Demo",
            [CSharpSyntaxTree.ParseText(source, parseOptions, path: "Contract.cs")],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var driver = CSharpGeneratorDriver.Create([new ActorGenerator().AsSourceGenerator()], parseOptions: parseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var result = driver.GetRunResult().Results.Single();
        return (output, result.Diagnostics, result.GeneratedSources);
    }

    private static string FindRepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sandgrain.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
