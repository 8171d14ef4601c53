namespace Sandgrain;

/// <summary>
/// A helper could not be started: not found, crashed during start, or never registered in time. An actor call that
/// needed the helper fails with it, so it is an <see cref="ActorCallException"/>.
/// </summary>
public sealed class HelperStartException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public HelperStartException(string helper, string message, IReadOnlyList<string> pathsTried, int? exitCode = null, IReadOnlyList<string>? standardErrorTail = null, Exception? inner = null)
        : base(message, inner)
    {
        Helper = helper;
        PathsTried = pathsTried;
        ExitCode = exitCode;
        StandardErrorTail = standardErrorTail ?? [];
    }

    /// <summary>The helper's catalog name.</summary>
    public string Helper { get; }

    /// <summary>Every path where the executable was looked for.</summary>
    public IReadOnlyList<string> PathsTried { get; }

    /// <summary>The helper's exit code, when it exited.</summary>
    public int? ExitCode { get; }

    /// <summary>The last lines the helper wrote to stderr.</summary>
    public IReadOnlyList<string> StandardErrorTail { get; }
}
