using Sandgrain.Runtime.Discovery;

namespace Sandgrain.Runtime;

/// <summary>Who this silo is: its id, the helper it runs as (when launched as one), its idle exit, the group secret.</summary>
internal sealed record SiloIdentity(string SiloId, string? Helper, TimeSpan? IdleExit, Security.GroupSecret Secret)
{
    internal static SiloIdentity Create(LaunchEnvironment? launch, Sandgrain.Transport.GroupContainer container) =>
        new(launch?.SiloId ?? SiloRecord.NewSiloId(), launch?.Helper, launch?.IdleTimeout, Security.GroupSecret.LoadOrCreate(container));
}
