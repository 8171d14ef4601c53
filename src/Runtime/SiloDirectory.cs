using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain;

/// <summary>A live silo of the app group, as the registry in the group container describes it.</summary>
/// <param name="SiloId">The silo's id (16 hex digits).</param>
/// <param name="Helper">The helper name when the silo is a helper the launcher starts; null for an app.</param>
/// <param name="ProcessId">Its process id (in its own PID namespace).</param>
/// <param name="StartTime">When it started.</param>
/// <param name="ActorTypes">The actor interfaces it hosts, by full name.</param>
/// <param name="Addresses">The transport addresses it listens on (<c>shm:…</c>, <c>unix:…</c>, <c>mach:…</c>).</param>
public sealed record SiloInfo(string SiloId, string? Helper, int ProcessId, DateTimeOffset StartTime, IReadOnlyList<string> ActorTypes, IReadOnlyList<string> Addresses)
{
    /// <summary>True when the silo hosts actor interface <typeparamref name="TActor"/>.</summary>
    public bool Hosts<TActor>()
    {
        var name = typeof(TActor).FullName;
        return ActorTypes.Any(t => t == name || t == typeof(TActor).Name);
    }

    internal static SiloInfo From(SiloRecord record) =>
        new(record.SiloId, record.Helper, record.ProcessId, record.StartTime, record.ActorTypes, record.Addresses);
}

/// <summary>
/// Who is in the app group: the live silos (apps and helpers) from the registry in the group container, an event
/// when that changes, and a way to start a helper ahead of its first call. Resolve it from the host's services.
/// </summary>
public interface ISiloDirectory
{
    /// <summary>The live silos now (each holds its registry lock), oldest first.</summary>
    IReadOnlyList<SiloInfo> LiveSilos();

    /// <summary>
    /// Raised when the registry may have changed (file-system events, and a poll at least once a second while
    /// someone listens). Handlers run on a pool thread; look again with <see cref="LiveSilos"/>.
    /// </summary>
    event EventHandler? Changed;

    /// <summary>Waits until a live silo matches <paramref name="match"/> and returns it.</summary>
    Task<SiloInfo> WaitForAsync(Func<SiloInfo, bool> match, CancellationToken cancellationToken = default);

    /// <summary>
    /// Starts the helper named <paramref name="helper"/> in the configured catalog (<c>Sandgrain:Helpers</c>)
    /// unless it runs already, and returns it once it is registered — for an app that wants a helper warm before
    /// the user's first click. Many processes asking at once start exactly one.
    /// </summary>
    /// <exception cref="ArgumentException">No helper of that name is configured.</exception>
    /// <exception cref="HelperStartException">It could not be started.</exception>
    Task<SiloInfo> StartHelperAsync(string helper, CancellationToken cancellationToken = default);
}

/// <summary>The registry and the launcher, seen through <see cref="ISiloDirectory"/>.</summary>
internal sealed class SiloDirectory(SiloRegistry registry, HelperLauncher launcher) : ISiloDirectory
{
    public event EventHandler? Changed
    {
        add => registry.Changed += value;
        remove => registry.Changed -= value;
    }

    public IReadOnlyList<SiloInfo> LiveSilos() =>
        registry.LiveSilos().OrderBy(r => r.StartTime).ThenBy(r => r.SiloId, StringComparer.Ordinal).Select(SiloInfo.From).ToList();

    public async Task<SiloInfo> WaitForAsync(Func<SiloInfo, bool> match, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(match);
        return SiloInfo.From(await registry.WaitForAsync(r => match(SiloInfo.From(r)), cancellationToken).ConfigureAwait(false));
    }

    public async Task<SiloInfo> StartHelperAsync(string helper, CancellationToken cancellationToken = default) =>
        SiloInfo.From(await launcher.EnsureRunningAsync(helper, cancellationToken).ConfigureAwait(false));
}
