using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;

namespace Sandgrain.Cli;

/// <summary>
/// <c>sandgrain ls|reap [--container DIR | --group ID] [--json]</c>. Exit codes: 0 done; 1 the container cannot
/// be opened; 2 usage error. The JSON output is for scripts and keeps its shape (<c>schema</c> 1).
/// </summary>
internal static class Program
{
    internal const string Usage = """
        usage: sandgrain <command> [--container DIR | --group GROUP-ID] [--json]

        commands:
          ls     list the silos registered in the group container: id, helper, pid, uptime,
                 actor types, addresses, and whether each is alive or stale
          reap   remove the records (and socket and segment files) of silos whose process is gone

        options:
          --container DIR    the group container folder (its .sandgrain/ holds the registry)
          --group GROUP-ID   the app group; its default container is used when --container is absent
                             (macOS: ~/Library/Group Containers/GROUP-ID)
          --json             machine-readable output
          -h, --help         this text

        exit codes: 0 done, 1 the container cannot be opened, 2 usage error
        """;

    internal static int Main(string[] args)
    {
        try
        {
            return Run(args, Console.Out, Console.Error);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"sandgrain: {e.Message}");
            return 1;
        }
    }

    internal static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? error : output).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        string? containerPath = null;
        string? group = null;
        var json = false;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--container" when i + 1 < args.Length:
                    containerPath = args[++i];
                    break;
                case "--group" when i + 1 < args.Length:
                    group = args[++i];
                    break;
                case "--json":
                    json = true;
                    break;
                case "-h" or "--help":
                    output.WriteLine(Usage);
                    return 0;
                default:
                    error.WriteLine($"sandgrain: unexpected argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }

        if (containerPath is null && group is null)
        {
            error.WriteLine($"sandgrain: give --container DIR or --group GROUP-ID\n{Usage}");
            return 2;
        }

        GroupId groupId;
        if (group is not null)
        {
            if (!GroupId.TryParse(group, out var parsed, out var problem))
            {
                error.WriteLine($"sandgrain: {problem}");
                return 2;
            }

            groupId = parsed;
        }
        else
        {
            // The container folder is named after its group by convention; the registry does not depend on it.
            groupId = GroupId.TryParse(Path.GetFileName(Path.TrimEndingDirectorySeparator(containerPath!)), out var fromName, out _)
                ? fromName
                : GroupId.Parse("group.unknown");
        }

        var container = GroupContainer.Open(groupId, containerPath);
        // Reaping removes the socket and segment files a dead silo left; each transport knows its own.
        using var registry = new SiloRegistry(container, transports: [new Sandgrain.Transport.UnixSocket.UnixSocketTransport(container), new Sandgrain.Transport.SharedMemory.SharedMemoryTransport(container)]);
        switch (args[0])
        {
            case "ls":
                List(registry, container, json, output);
                return 0;
            case "reap":
                Reap(registry, container, json, output);
                return 0;
            default:
                error.WriteLine($"sandgrain: unknown command '{args[0]}'\n{Usage}");
                return 2;
        }
    }

    private static void List(SiloRegistry registry, GroupContainer container, bool json, TextWriter output)
    {
        var now = DateTimeOffset.UtcNow;
        var silos = registry.Snapshot()
            .OrderBy(e => e.Record.Helper ?? "", StringComparer.Ordinal).ThenBy(e => e.Record.StartTime)
            .Select(e => new SiloListing(e.Record.SiloId, e.Record.Helper, e.Record.ProcessId, e.Record.StartTime,
                Math.Round((now - e.Record.StartTime).TotalSeconds, 1), e.Record.ActorTypes, e.Record.Addresses, e.IsAlive))
            .ToList();
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new ListOutput(1, container.Path, silos), CliJsonContext.Default.ListOutput));
            return;
        }

        if (silos.Count == 0)
        {
            output.WriteLine($"no silos registered in {container.Path}");
            return;
        }

        output.WriteLine($"{"ID",-16}  {"HELPER",-14} {"PID",7}  {"UPTIME",9}  {"STATE",-5}  ACTOR TYPES / ADDRESSES");
        foreach (var s in silos)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s.Id,-16}  {s.Helper ?? "-",-14} {s.Pid,7}  {FormatUptime(s.UptimeSeconds),9}  {(s.Alive ? "alive" : "stale"),-5}  {string.Join(",", s.ActorTypes)} {string.Join(" ", s.Addresses)}"));
        }
    }

    private static void Reap(SiloRegistry registry, GroupContainer container, bool json, TextWriter output)
    {
        var reaped = registry.Reap().Select(r => new ReapedSilo(r.SiloId, r.Helper, r.ProcessId)).ToList();
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(new ReapOutput(1, container.Path, reaped), CliJsonContext.Default.ReapOutput));
            return;
        }

        output.WriteLine(reaped.Count == 0 ? "nothing to reap" : $"reaped {reaped.Count} stale silo(s): {string.Join(", ", reaped.Select(r => $"{r.Id} ({r.Helper ?? "-"}, pid {r.Pid})"))}");
    }

    private static string FormatUptime(double seconds) =>
        seconds < 120 ? string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0}s")
        : seconds < 7200 ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0}m")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:0.0}h");
}

internal sealed record SiloListing(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("helper")] string? Helper,
    [property: JsonPropertyName("pid")] int Pid,
    [property: JsonPropertyName("started")] DateTimeOffset Started,
    [property: JsonPropertyName("uptimeSeconds")] double UptimeSeconds,
    [property: JsonPropertyName("actorTypes")] IReadOnlyList<string> ActorTypes,
    [property: JsonPropertyName("addresses")] IReadOnlyList<string> Addresses,
    [property: JsonPropertyName("alive")] bool Alive);

internal sealed record ListOutput(
    [property: JsonPropertyName("schema")] int Schema,
    [property: JsonPropertyName("container")] string Container,
    [property: JsonPropertyName("silos")] IReadOnlyList<SiloListing> Silos);

internal sealed record ReapedSilo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("helper")] string? Helper,
    [property: JsonPropertyName("pid")] int Pid);

internal sealed record ReapOutput(
    [property: JsonPropertyName("schema")] int Schema,
    [property: JsonPropertyName("container")] string Container,
    [property: JsonPropertyName("reaped")] IReadOnlyList<ReapedSilo> Reaped);

[JsonSerializable(typeof(ListOutput))]
[JsonSerializable(typeof(ReapOutput))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
