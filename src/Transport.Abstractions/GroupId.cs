using System.Diagnostics.CodeAnalysis;

namespace Sandgrain.Transport;

/// <summary>
/// An app group identifier exactly as it appears in <c>com.apple.security.application-groups</c>:
/// <c>TEAMID.name</c> (a 10-character Team ID, the form macOS accepts without registration) or
/// <c>group.name</c> (registered on the developer site; needs a provisioning profile on macOS).
/// </summary>
/// <remarks>
/// sandbox-facts §1.1: both forms are valid on macOS; every Mach, POSIX IPC and container name the
/// sandbox allows is derived from this string byte for byte, so it is validated once, here.
/// </remarks>
public sealed class GroupId : IEquatable<GroupId>
{
    /// <summary>The length of an Apple Team ID.</summary>
    public const int TeamIdLength = 10;

    private GroupId(string value, bool isTeamPrefixed)
    {
        Value = value;
        IsTeamPrefixed = isTeamPrefixed;
    }

    /// <summary>The identifier as configured, e.g. <c>ABCDE12345.com.example.studio</c>.</summary>
    public string Value { get; }

    /// <summary>True for the <c>TEAMID.name</c> form, false for <c>group.name</c>.</summary>
    public bool IsTeamPrefixed { get; }

    /// <summary>Parses and validates an app group identifier.</summary>
    /// <exception cref="ArgumentException">The value is not a valid app group identifier; the message says why.</exception>
    public static GroupId Parse(string value)
    {
        if (!TryParse(value, out var id, out var error))
        {
            throw new ArgumentException(error, nameof(value));
        }

        return id;
    }

    /// <summary>Parses an app group identifier, returning a specific reason when it is invalid.</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out GroupId? id, [NotNullWhen(false)] out string? error)
    {
        id = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "The app group id is empty. Set it to the value of com.apple.security.application-groups, e.g. 'ABCDE12345.com.example.app' or 'group.com.example.app'.";
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '.' || c == '-'))
            {
                error = $"The app group id '{value}' contains '{c}'; only ASCII letters, digits, '.' and '-' are allowed.";
                return false;
            }
        }

        var segments = value.Split('.');
        if (segments.Length < 2 || Array.Exists(segments, s => s.Length == 0))
        {
            error = $"The app group id '{value}' must be 'TEAMID.name' or 'group.name' with no empty segments between dots.";
            return false;
        }

        if (segments[0] == "group")
        {
            id = new GroupId(value, isTeamPrefixed: false);
            error = null;
            return true;
        }

        var team = segments[0];
        if (team.Length != TeamIdLength || !team.All(c => char.IsAsciiDigit(c) || char.IsAsciiLetterUpper(c)))
        {
            error = $"The app group id '{value}' starts with '{team}', which is neither 'group' nor a 10-character Team ID of upper-case letters and digits (e.g. 'ABCDE12345').";
            return false;
        }

        id = new GroupId(value, isTeamPrefixed: true);
        error = null;
        return true;
    }

    /// <inheritdoc />
    public bool Equals(GroupId? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as GroupId);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <inheritdoc />
    public override string ToString() => Value;
}
