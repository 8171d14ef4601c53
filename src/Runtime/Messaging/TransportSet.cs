using Sandgrain.Transport;

namespace Sandgrain.Runtime.Messaging;

/// <summary>The transports this silo uses, in order of preference, and the choice of one for a peer's addresses.</summary>
internal sealed class TransportSet
{
    private readonly Dictionary<string, ISandgrainTransport> _byScheme;

    internal TransportSet(IEnumerable<ISandgrainTransport> registered, SandgrainOptions options)
    {
        _byScheme = registered.GroupBy(t => t.Scheme).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        Order = options.EffectiveTransports(_byScheme.Keys);
    }

    /// <summary>The schemes this silo listens on and prefers, first first.</summary>
    internal IReadOnlyList<string> Order { get; }

    /// <summary>The transport for a scheme, or null when none is registered.</summary>
    internal ISandgrainTransport? Find(string scheme) => _byScheme.GetValueOrDefault(scheme);

    /// <summary>The first transport of this silo's order that the peer also offers, with the peer's address for it.</summary>
    internal (ISandgrainTransport Transport, TransportAddress Address)? Choose(IReadOnlyList<string> addresses)
    {
        foreach (var scheme in Order)
        {
            if (!_byScheme.TryGetValue(scheme, out var transport))
            {
                continue;
            }

            foreach (var offered in addresses)
            {
                if (TransportAddress.TryParse(offered, out var address, out _) && address.Scheme == scheme)
                {
                    return (transport, address);
                }
            }
        }

        return null;
    }
}
