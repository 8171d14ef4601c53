// Transport-level benchmark (bench/CONTRACT.md): two processes, raw frames over a Sandgrain transport,
// no actors. The client starts the server as a child process, then runs W1 (64-byte echo, sequential)
// and W3 (1 MiB frames acknowledged with their length) and prints one contract line per figure.
//
//   Sandgrain.Bench transport --transport unix [--w1-calls 100000] [--w3-calls 2000]
//   Sandgrain.Bench transport-server --transport unix --container DIR --address A   (started by the client)
using System.Diagnostics;
using Sandgrain.Bench;

var mode = args.Length > 0 ? args[0] : "";
var options = BenchOptions.Parse(args.Skip(1).ToArray());
return mode switch
{
    "transport" => await TransportBench.RunClientAsync(options),
    "transport-server" => await TransportBench.RunServerAsync(options),
    "launch" => await LaunchBench.RunAsync(options),
    "actors" => await ActorBench.RunAsync(options),
    "actors-server" => await ActorBench.RunServerAsync(args.Skip(1).ToArray()),
    "minimal-helper" => await LaunchBench.RunMinimalHelperAsync(),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Sandgrain.Bench transport --transport unix|shm|shm-nospin [--w1-calls N] [--w3-calls N]\n       Sandgrain.Bench launch [--runs N]\n       Sandgrain.Bench actors --transport unix|shm");
    return 2;
}

namespace Sandgrain.Bench
{
    internal sealed class BenchOptions
    {
        private readonly Dictionary<string, string> _values = [];

        public static BenchOptions Parse(string[] args)
        {
            var options = new BenchOptions();
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                options._values[args[i].TrimStart('-')] = args[i + 1];
            }

            return options;
        }

        public string Get(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

        public string Require(string name) => _values.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");

        public int GetInt(string name, int fallback) => _values.TryGetValue(name, out var v) ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    internal static class Report
    {
        public static void Line(string peer, string workload, double value, string unit, string note) =>
            Console.WriteLine(FormattableString.Invariant($"peer={peer} workload={workload} value={value:0.###} unit={unit} note={note}"));

        public static string BuildNote(string extra)
        {
            var config = Debugger.IsAttached ? "Debug" : "Release";
#if DEBUG
            config = "Debug";
#endif
            var gc = (System.Runtime.GCSettings.IsServerGC ? "server-gc" : "workstation-gc") + ",non-concurrent,LOHThreshold-4MiB";
            var jit = System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeCompiled ? "JIT-tiered" : "AOT";
            return $"{config},{jit},{gc},unpinned{(extra.Length > 0 ? "," + extra : "")}";
        }
    }
}
