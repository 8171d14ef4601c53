using System.Diagnostics.CodeAnalysis;

namespace Sandgrain.Transport;

/// <summary>
/// A transport address as written in configuration and in the registry: a scheme and a value,
/// <c>unix:s/7f3a</c>, <c>shm:7f3a</c>, <c>mach:ABCDE12345.com.example.sg.7f3a</c>. Values that name a file
/// are relative to the group container, so a record means the same thing in every process of the group.
/// </summary>
/// <remarks>
/// This type knows only the generic form: a scheme of lowercase ASCII letters and digits, a colon, and a value
/// of ASCII letters, digits, <c>.</c>, <c>_</c>, <c>-</c> and <c>/</c> that can never climb out of the folder it
/// is relative to (no leading <c>/</c>, no <c>.</c> or <c>..</c> segment), whichever transport reads it. Which
/// schemes exist and what their values may be is each transport's business, checked by
/// <see cref="ISandgrainTransport.CreateEndPoint"/>.
/// </remarks>
public sealed record TransportAddress
{
    /// <summary>Longest scheme accepted, in characters.</summary>
    public const int MaxSchemeLength = 16;

    /// <summary>Longest value accepted after the scheme, in characters.</summary>
    public const int MaxValueLength = 200;

    private TransportAddress(string scheme, string value)
    {
        Scheme = scheme;
        Value = value;
    }

    /// <summary>The scheme, such as <c>unix</c>, <c>shm</c> or <c>mach</c>: which transport serves the address.</summary>
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
            error = $"The transport address '{Shorten(text)}' has no scheme; expected 'scheme:value', e.g. 'unix:s/7f3a'.";
            return false;
        }

        var scheme = text[..colon];
        var value = text[(colon + 1)..];
        error = CheckScheme(text, scheme) ?? CheckValue(text, scheme, value);
        if (error is not null)
        {
            return false;
        }

        address = new TransportAddress(scheme, value);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Scheme + ":" + Value;

    private static string? CheckScheme(string text, string scheme)
    {
        if (scheme.Length > MaxSchemeLength)
        {
            return $"The transport address '{Shorten(text)}' has a scheme of {scheme.Length} characters; at most {MaxSchemeLength} are allowed.";
        }

        if (!char.IsAsciiLetterLower(scheme[0]))
        {
            return $"The transport address '{Shorten(text)}' has the scheme '{Printable(scheme)}'; a scheme starts with a lowercase ASCII letter.";
        }

        foreach (var c in scheme)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)))
            {
                return $"The transport address '{Shorten(text)}' has the scheme '{Printable(scheme)}', which contains '{Printable(c)}'; schemes may use lowercase ASCII letters and digits.";
            }
        }

        return null;
    }

    private static string? CheckValue(string text, string scheme, string value)
    {
        if (value.Length == 0)
        {
            return $"The transport address '{Shorten(text)}' has nothing after '{scheme}:'.";
        }

        if (value.Length > MaxValueLength)
        {
            return $"The transport address '{Shorten(text)}' is {value.Length} characters after the scheme; at most {MaxValueLength} are allowed.";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/'))
            {
                return $"The transport address '{Shorten(text)}' contains '{Printable(c)}'; values may use ASCII letters, digits, '.', '_', '-' and '/'.";
            }
        }

        if (value.StartsWith('/'))
        {
            return $"The transport address '{Shorten(text)}' names an absolute path; values that name a file are relative to the group container, e.g. 'unix:s/7f3a'.";
        }

        foreach (var segment in value.Split('/'))
        {
            if (segment is "." or "..")
            {
                return $"The transport address '{Shorten(text)}' has a '{segment}' segment; it must stay inside the group container.";
            }
        }

        return null;
    }

    private static string Shorten(string text) => text.Length <= 60 ? Printable(text) : Printable(text[..40]) + "…";

    private static string Printable(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c))
            {
                return string.Concat(text.Select(Printable));
            }
        }

        return text;
    }

    private static string Printable(char c) => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString();
}
