using Sandgrain.Runtime.Discovery;

namespace Sandgrain;

/// <summary>
/// One entry of the helper catalog (<c>Sandgrain:Helpers:&lt;name&gt;</c>): a program the app launches on demand
/// when a call needs an actor type that only it hosts.
/// </summary>
public sealed class HelperOptions
{
    /// <summary>
    /// The executable: a file name or relative path resolved against the app's own folder (and, on macOS, the
    /// running bundle's <c>Contents/MacOS</c> and <c>Contents/Helpers</c>), or an absolute path.
    /// </summary>
    public string Executable { get; set; } = "";

    /// <summary>Arguments passed to the helper, without a shell.</summary>
    public IList<string> Arguments { get; set; } = [];

    /// <summary>The actor interface names the helper hosts.</summary>
    public IList<string> ActorTypes { get; set; } = [];

    /// <summary>How long a launch may take, from asking to the helper's record being visible. Default 10 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the helper stays up with no connections and no activations. Default 30 s.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many times the helper may crash (exit with a non-zero code, or fail to start) within
    /// <see cref="RestartWindow"/>; past that, calls fail at once with the recent exit codes and stderr instead of
    /// starting it again, until the window has passed — a crash loop must not become a fork loop. Default 5.
    /// </summary>
    public int MaxCrashes { get; set; } = 5;

    /// <summary>The window <see cref="MaxCrashes"/> counts in. Default 1 minute.</summary>
    public TimeSpan RestartWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The garbage-collector configuration the launcher gives the helper. Default <see cref="HelperHeap.Small"/>: a
    /// footprint that does not grow with the cache size the machine's CPU reports; <see cref="HelperHeap.Runtime"/>
    /// leaves the runtime's defaults.
    /// </summary>
    public HelperHeap Heap { get; set; } = HelperHeap.Small;

    /// <summary>Checks the entry, returning what is wrong in words that say what to change, or null.</summary>
    internal string? Validate(string name)
    {
        if (!HelperLauncher.IsValidHelperName(name))
        {
            return $"Helper name '{name}' must be 1 to 64 ASCII letters, digits, '.', '_' or '-' (it names files in the group container).";
        }

        if (string.IsNullOrWhiteSpace(Executable))
        {
            return $"Sandgrain:Helpers:{name}:Executable is empty; set it to the helper program's file name.";
        }

        if (StartTimeout <= TimeSpan.Zero)
        {
            return $"Sandgrain:Helpers:{name}:StartTimeout is {StartTimeout}; it must be positive.";
        }

        if (MaxCrashes < 1 || RestartWindow <= TimeSpan.Zero)
        {
            return $"Sandgrain:Helpers:{name}:MaxCrashes ({MaxCrashes}) must be at least 1 and RestartWindow ({RestartWindow}) positive.";
        }

        if (!Enum.IsDefined(Heap))
        {
            return $"Sandgrain:Helpers:{name}:Heap is {(int)Heap}; it must be Small or Runtime.";
        }

        return IdleTimeout <= TimeSpan.Zero ? $"Sandgrain:Helpers:{name}:IdleTimeout is {IdleTimeout}; it must be positive." : null;
    }
}
