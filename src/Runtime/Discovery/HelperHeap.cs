namespace Sandgrain;

/// <summary>How the launcher configures the garbage collector of a helper it starts (<see cref="HelperOptions.Heap"/>).</summary>
public enum HelperHeap
{
    /// <summary>
    /// Sized for a helper, the same on every machine: a gen-0 budget of 4 MiB (<c>DOTNET_GCgen0size</c>, for JIT and
    /// NativeAOT helpers alike), where the runtime would size gen 0 from the cache size the CPU reports (tens to
    /// hundreds of MiB on large machines). Left as it is when the app's own environment or the helper's
    /// <c>runtimeconfig.json</c> sets it already. Costs more frequent, smaller gen-0 collections: a helper that moves
    /// megabyte payloads loses some of its bulk throughput (measured here: 3–7 % of 1 MiB calls per second).
    /// </summary>
    Small,

    /// <summary>The runtime's own defaults: the helper's gen-0 budget, and so its memory, follows the machine's cache size.</summary>
    Runtime,
}
