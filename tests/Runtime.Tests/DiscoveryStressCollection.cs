namespace Sandgrain.Runtime.Tests;

/// <summary>
/// The discovery stress tests keep both cores busy (tight reap and check loops, many processes started and killed):
/// they run alone, so that they neither disturb the timing of other tests nor are disturbed by them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DiscoveryStressCollection
{
    public const string Name = "Discovery stress";
}
