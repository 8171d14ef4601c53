namespace Sandgrain.Transport;

/// <summary>
/// A name or path breaks an App Sandbox or kernel limit. Thrown at configuration time, before any
/// system call, with the name, its length in bytes, the limit, and what to change.
/// </summary>
public sealed class SandboxNameException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public SandboxNameException(string message, string name, int lengthBytes, int limitBytes)
        : base(message)
    {
        Name = name;
        LengthBytes = lengthBytes;
        LimitBytes = limitBytes;
    }

    /// <summary>The offending name or path.</summary>
    public string Name { get; }

    /// <summary>Its length in UTF-8 bytes, without a terminating NUL (0 when the problem is not its length).</summary>
    public int LengthBytes { get; }

    /// <summary>The limit that applies, in UTF-8 bytes without a terminating NUL (0 when the problem is not its length).</summary>
    public int LimitBytes { get; }
}
