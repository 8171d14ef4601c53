using System.Text.Json;

namespace Sandgrain.Runtime.Discovery;

/// <summary>The environment that gives a launched helper the garbage-collector settings of <see cref="HelperHeap.Small"/>.</summary>
internal static class HelperHeapSettings
{
    // A runtimeconfig.json larger than this is not read (the helper's own settings are then not seen, and ours apply).
    private const int MaxRuntimeConfigBytes = 256 * 1024;

    /// <summary>
    /// The settings: the variable, its name in a runtimeconfig.json, and the value — hexadecimal without a prefix,
    /// which is how both CoreCLR and NativeAOT read a GC setting from the environment (NativeAOT ignores a value
    /// with <c>0x</c>).
    /// </summary>
    internal static readonly IReadOnlyList<(string Name, string RuntimeConfigKey, string Value)> Small =
    [
        ("GCgen0size", "System.GC.Gen0Size", "400000"),
    ];

    /// <summary>Adds each setting of <paramref name="heap"/> that neither <paramref name="environment"/> nor the helper's runtimeconfig.json sets.</summary>
    internal static void ApplyTo(IDictionary<string, string?> environment, HelperHeap heap, string executable)
    {
        if (heap != HelperHeap.Small)
        {
            return;
        }

        var configured = RuntimeConfigKeys(executable);
        foreach (var (name, key, value) in Small)
        {
            if (environment.ContainsKey("DOTNET_" + name) || environment.ContainsKey("COMPlus_" + name) || configured.Contains(key) || configured.Contains(name))
            {
                continue;
            }

            environment["DOTNET_" + name] = value;
        }
    }

    /// <summary>The configProperties names of the helper's runtimeconfig.json; none when it has none (a NativeAOT helper) or it cannot be read.</summary>
    private static HashSet<string> RuntimeConfigKeys(string executable)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var stem = executable.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || executable.EndsWith(".exe", StringComparison.OrdinalIgnoreCase)
            ? executable[..^4]
            : executable;
        try
        {
            using var file = File.OpenRead(stem + ".runtimeconfig.json");
            if (file.Length > MaxRuntimeConfigBytes)
            {
                return keys;
            }

            using var document = JsonDocument.Parse(file);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("runtimeOptions", out var options) && options.ValueKind == JsonValueKind.Object
                && options.TryGetProperty("configProperties", out var properties) && properties.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in properties.EnumerateObject())
                {
                    keys.Add(property.Name);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            // None to respect.
        }

        return keys;
    }
}
