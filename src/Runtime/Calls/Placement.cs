using System.Collections.Concurrent;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Calls;

/// <summary>
/// Finds the silo that hosts an actor type: the route cached from the last call while its connection is usable,
/// else the oldest live silo in the registry that hosts it, else the helper that provides it, launched now.
/// </summary>
internal sealed class Placement(SandgrainOptions options, SiloIdentity identity, SiloRegistry registry, HelperLauncher launcher, ConnectionManager connections, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, string> _routes = new(StringComparer.Ordinal);

    /// <summary>The cached route's connection, if it is still usable: the path of every call after the first.</summary>
    internal SiloConnection? Cached(ActorInterfaceInfo info) =>
        _routes.TryGetValue(info.Name, out var siloId) ? connections.Find(siloId) : null;

    /// <summary>A connection to the silo hosting <paramref name="info"/>, launching its helper if none is live.</summary>
    internal async Task<SiloConnection> RouteAsync(ActorInterfaceInfo info, CancellationToken cancellationToken)
    {
        while (true)
        {
            var record = FindHost(info) ?? await LaunchHostAsync(info, cancellationToken).ConfigureAwait(false);
            try
            {
                var connection = await connections.ConnectAsync(record, cancellationToken).ConfigureAwait(false);
                _routes[info.Name] = record.SiloId;
                return connection;
            }
            catch (ActorUnavailableException e) when (e is not ConnectionRefusedException)
            {
                // A silo killed a moment ago can look alive until the kernel has closed all its files. Nothing
                // was sent, so looking again (and launching a new helper) is safe.
                if (!await IsDyingAsync(record, cancellationToken).ConfigureAwait(false))
                {
                    throw;
                }
            }
        }
    }

    /// <summary>A connection to a silo by id (an observer's process): open already, or made from its live record.</summary>
    internal async Task<SiloConnection?> ConnectToAsync(string siloId, CancellationToken cancellationToken)
    {
        if (connections.Find(siloId) is { } open)
        {
            return open;
        }

        var record = registry.LiveSilos().FirstOrDefault(r => r.SiloId == siloId);
        return record is null ? null : await connections.ConnectAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when a silo that refused a connection loses its registry lock within a second: it was dying.</summary>
    private async Task<bool> IsDyingAsync(SiloRecord record, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (time.GetElapsedTime(started) < TimeSpan.FromSeconds(1))
        {
            if (!registry.LiveSilos().Any(r => r.SiloId == record.SiloId))
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), time, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    private SiloRecord? FindHost(ActorInterfaceInfo info) =>
        registry.LiveSilos()
            .Where(r => r.SiloId != identity.SiloId && r.ActorTypes.Any(t => t == info.Name || t == info.ShortName))
            .OrderBy(r => r.StartTime)
            .ThenBy(r => r.SiloId, StringComparer.Ordinal)
            .FirstOrDefault();

    private async Task<SiloRecord> LaunchHostAsync(ActorInterfaceInfo info, CancellationToken cancellationToken)
    {
        var helper = options.Helpers.FirstOrDefault(h => h.Value.ActorTypes.Any(t => t == info.Name || t == info.ShortName)).Key;
        if (helper is null)
        {
            throw new ActorNotHostedException($"No live silo hosts {info.Name} and no helper provides it. Add '{info.ShortName}' to Sandgrain:Helpers:<name>:ActorTypes, or call AddActor<{info.ShortName}, …>() in the silo that should host it.");
        }

        var record = await launcher.EnsureRunningAsync(helper, cancellationToken).ConfigureAwait(false);
        if (!record.ActorTypes.Any(t => t == info.Name || t == info.ShortName))
        {
            throw new ActorNotHostedException($"Helper '{helper}' started, but its silo hosts [{string.Join(", ", record.ActorTypes)}], not {info.Name}. Register the actor in the helper (AddActor) or fix Sandgrain:Helpers:{helper}:ActorTypes.");
        }

        return record;
    }
}
