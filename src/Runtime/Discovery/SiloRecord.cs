using System.Text.Json.Serialization;

namespace Sandgrain.Runtime.Discovery;

/// <summary>
/// What a live silo publishes about itself in <c>.sandgrain/registry/&lt;silo-id&gt;.json</c>, so that other
/// processes of the group can find it without distributed-notification payloads (which the App Sandbox strips).
/// </summary>
internal sealed record SiloRecord
{
    /// <summary>The record format this build writes.</summary>
    public const int CurrentSchemaVersion = 1;

    /// <summary>The record format; readers skip records from a newer schema.</summary>
    [JsonPropertyName("schema")]
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    /// <summary>The silo's id: 16 lower-case hex digits, unique per process start.</summary>
    [JsonPropertyName("id")]
    public required string SiloId { get; init; }

    /// <summary>The helper name from the catalog, or null for a silo that was not launched as a helper.</summary>
    [JsonPropertyName("helper")]
    public string? Helper { get; init; }

    /// <summary>The process id, as seen from the silo's own PID namespace (diagnostics only; liveness is the lock).</summary>
    [JsonPropertyName("pid")]
    public int ProcessId { get; init; }

    /// <summary>When the silo started.</summary>
    [JsonPropertyName("started")]
    public DateTimeOffset StartTime { get; init; }

    /// <summary>The wire protocol version the silo speaks.</summary>
    [JsonPropertyName("protocol")]
    public int ProtocolVersion { get; init; }

    /// <summary>The actor interface names the silo hosts.</summary>
    [JsonPropertyName("actorTypes")]
    public IReadOnlyList<string> ActorTypes { get; init; } = [];

    /// <summary>The transport addresses the silo listens on, in its order of preference (<c>unix:s/…</c>, <c>shm:…</c>).</summary>
    [JsonPropertyName("addresses")]
    public IReadOnlyList<string> Addresses { get; init; } = [];

    /// <summary>Creates a fresh silo id.</summary>
    public static string NewSiloId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>True for a well-formed silo id (it becomes a file name, so it is checked).</summary>
    public static bool IsValidSiloId(string? id) =>
        id is { Length: 16 } && id.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0;
}

/// <summary>A record as a reader found it, with whether its silo is alive.</summary>
/// <param name="Record">The record.</param>
/// <param name="IsAlive">True while the silo holds its lock.</param>
internal sealed record SiloEntry(SiloRecord Record, bool IsAlive);

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(SiloRecord))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
