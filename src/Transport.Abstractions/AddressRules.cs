namespace Sandgrain.Transport;

/// <summary>
/// The value rules that more than one transport applies to its addresses, beyond the generic
/// <c>scheme:value</c> form that <see cref="TransportAddress"/> checks: a path relative to Sandgrain's folder,
/// or a single name.
/// </summary>
internal static class AddressRules
{
    /// <summary>Refuses an address of another scheme, naming the transport and the form it takes.</summary>
    /// <exception cref="ArgumentException">The address has another scheme.</exception>
    internal static void RequireScheme(TransportAddress address, string scheme, string transport, string example)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!string.Equals(address.Scheme, scheme, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The {transport} transport cannot serve '{address}'; its addresses start with '{scheme}:', e.g. '{example}'.", nameof(address));
        }
    }

    /// <summary>
    /// Checks a value that names a file relative to a folder: not absolute, no empty, <c>.</c> or <c>..</c>
    /// segment, so it cannot leave the folder.
    /// </summary>
    /// <exception cref="ArgumentException">The value breaks a rule; the message says which.</exception>
    internal static void RequireRelativePath(TransportAddress address, string relativeTo)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Value.StartsWith('/'))
        {
            throw new ArgumentException($"The transport address '{address}' names an absolute path; {address.Scheme} addresses are relative to {relativeTo}, e.g. '{address.Scheme}:s/7f3a'.", nameof(address));
        }

        foreach (var segment in address.Value.Split('/'))
        {
            if (segment.Length == 0)
            {
                throw new ArgumentException($"The transport address '{address}' has an empty path segment ('//' or a trailing '/').", nameof(address));
            }

            if (segment is "." or "..")
            {
                throw new ArgumentException($"The transport address '{address}' has a '{segment}' segment; it must stay inside {relativeTo}.", nameof(address));
            }
        }
    }

    /// <summary>Checks a value that is a single name: no <c>/</c>.</summary>
    /// <exception cref="ArgumentException">The value contains a '/'.</exception>
    internal static void RequireName(TransportAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Value.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The transport address '{address}' contains '/'; {address.Scheme} names may use ASCII letters, digits, '.', '_' and '-'.", nameof(address));
        }
    }
}
