using Sandgrain.Transport;

namespace Sandgrain.Runtime.Messaging;

/// <summary>The transports this silo uses, in order of preference, and the choice of one for a peer's addresses.</summary>
internal sealed class TransportSet
{
    private readonly Dictionary<string, ISandgrainTransport> _byScheme;

    internal TransportSet(IEnumerable<ISandgrainTransport> registered, SandgrainOptions options)
    {
        _byScheme = registered.GroupBy(t => t.Scheme).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        Order = options.Transports.Length > 0
            ? options.Transports.Distinct(StringComparer.Ordinal).ToList()
            : _byScheme.Values.Where(t => t.UnsupportedReason is null).OrderBy(t => t.Preference).Select(t => t.Scheme).ToList();
    }

    /// <summary>Why the configured order cannot be served here (a scheme with no transport, or one that cannot run here); null when it can.</summary>
    internal string? Problem()
    {
        if (Order.Count == 0)
        {
            return "No Sandgrain transport is registered that can run here. Call services.AddSandgrainUnixSocketTransport() (and/or AddSandgrainSharedMemoryTransport, AddSandgrainMachTransport).";
        }

        foreach (var scheme in Order)
        {
            if (!_byScheme.TryGetValue(scheme, out var transport))
            {
                return $"Sandgrain:Transports lists '{scheme}', but no transport for '{scheme}' is registered (registered: {string.Join(", ", _byScheme.Keys.Select(k => "'" + k + "'"))}). Register it (AddSandgrainUnixSocketTransport, AddSandgrainSharedMemoryTransport or AddSandgrainMachTransport) or remove it from the list.";
            }

            if (transport.UnsupportedReason is { } reason)
            {
                return $"Sandgrain:Transports lists '{scheme}', which cannot run here: {reason}";
            }
        }

        return null;
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
