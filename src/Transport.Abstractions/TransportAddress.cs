using System.Diagnostics.CodeAnalysis;

namespace Sandgrain.Transport;

/// <summary>
/// A transport address as written in configuration and in the registry: a scheme and a value,
/// <c>unix:s/7f3a</c>, <c>shm:7f3a</c>, <c>mach:ABCDE12345.com.example.sg.7f3a</c>. Values that name a file
/// are relative to the group container, so a record means the same thing in every process of the group.
/// </summary>
public sealed record TransportAddress
{
    /// <summary>Scheme of the Unix-domain-socket transport.</summary>
    public const string UnixScheme = "unix";

    /// <summary>Scheme of the shared-memory transport.</summary>
    public const string SharedMemoryScheme = "shm";

    /// <summary>Scheme of the Mach-port transport.</summary>
    public const string MachScheme = "mach";

    /// <summary>Longest value accepted after the scheme, in characters.</summary>
    public const int MaxValueLength = 200;

    private TransportAddress(string scheme, string value)
    {
        Scheme = scheme;
        Value = value;
    }

    /// <summary>The scheme: <c>unix</c>, <c>shm</c> or <c>mach</c>.</summary>
    public string Scheme { get; }

    /// <summary>The part after the colon.</summary>
    public string Value { get; }

    /// <summary>Creates an address from a scheme and a value, validating both.</summary>
    /// <exception cref="FormatException">The address is not valid; the message says what is wrong.</exception>
    public static TransportAddress Create(string scheme, string value) => Parse(scheme + ":" + value);

    /// <summary>Parses <c>scheme:value</c>.</summary>
    /// <exception cref="FormatException">The address is not valid; the message says exactly what is wrong.</exception>
    public static TransportAddress Parse(string text)
    {
        if (!TryParse(text, out var address, out var error))
        {
            throw new FormatException(error);
        }

        return address;
    }

    /// <summary>Parses <c>scheme:value</c>, returning a specific reason when it is invalid.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out TransportAddress? address, [NotNullWhen(false)] out string? error)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "The transport address is empty; expected 'scheme:value', e.g. 'unix:s/7f3a'.";
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = $"The transport address '{text}' has no scheme; expected 'scheme:value' with scheme 'unix', 'shm' or 'mach', e.g. 'unix:s/7f3a'.";
            return false;
        }

        var scheme = text[..colon];
        var value = text[(colon + 1)..];
        if (value.Length == 0)
        {
            error = $"The transport address '{text}' has nothing after '{scheme}:'.";
            return false;
        }

        if (value.Length > MaxValueLength)
        {
            error = $"The transport address '{text[..Math.Min(text.Length, 40)]}…' is {value.Length} characters after the scheme; at most {MaxValueLength} are allowed.";
            return false;
        }

        error = scheme switch
        {
            UnixScheme => CheckRelativePath(text, value),
            SharedMemoryScheme => CheckName(text, value, allowDots: true),
            MachScheme => CheckName(text, value, allowDots: true),
            _ => $"The transport address '{text}' has the unknown scheme '{scheme}'; known schemes are 'unix', 'shm' and 'mach'.",
        };
        if (error is not null)
        {
            return false;
        }

        address = new TransportAddress(scheme, value);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Scheme + ":" + Value;

    private static string? CheckRelativePath(string text, string value)
    {
        if (value.StartsWith('/'))
        {
            return $"The transport address '{text}' names an absolute path; unix addresses are relative to the group container, e.g. 'unix:s/7f3a'.";
        }

        foreach (var segment in value.Split('/'))
        {
            if (segment.Length == 0)
            {
                return $"The transport address '{text}' has an empty path segment ('//' or a trailing '/').";
            }

            if (segment is "." or "..")
            {
                return $"The transport address '{text}' has a '{segment}' segment; it must stay inside the group container.";
            }

            var bad = FirstInvalid(segment, allowDots: true);
            if (bad is not null)
            {
                return $"The transport address '{text}' contains '{bad}'; path segments may use ASCII letters, digits, '.', '_' and '-'.";
            }
        }

        return null;
    }

    private static string? CheckName(string text, string value, bool allowDots)
    {
        var bad = FirstInvalid(value, allowDots);
        return bad is null
            ? null
            : $"The transport address '{text}' contains '{bad}'; names may use ASCII letters, digits, '.', '_' and '-'.";
    }

    private static string? FirstInvalid(string value, bool allowDots)
    {
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-' || (allowDots && c == '.')))
            {
                return char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString();
            }
        }

        return null;
    }
}
