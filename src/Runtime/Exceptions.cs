namespace Sandgrain;

/// <summary>A call to an actor failed for a reason other than an exception thrown by the actor's own code.</summary>
public class ActorCallException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ActorCallException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The actor threw an exception in another process. Carries the original type name, message and the remote
/// stack trace. Common framework exceptions are rethrown as their own type instead, with this as the inner exception.
/// </summary>
public sealed class RemoteActorException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public RemoteActorException(string originalTypeName, string message, string? remoteStackTrace)
        : base(message)
    {
        OriginalTypeName = originalTypeName;
        RemoteStackTrace = remoteStackTrace;
    }

    /// <summary>The full name of the exception type thrown by the actor.</summary>
    public string OriginalTypeName { get; }

    /// <summary>The stack trace in the actor's process.</summary>
    public string? RemoteStackTrace { get; }

    /// <inheritdoc />
    public override string ToString() => $"{OriginalTypeName}: {Message} (thrown in another process){Environment.NewLine}{RemoteStackTrace}{Environment.NewLine}--- end of remote stack ---{Environment.NewLine}{StackTrace}";
}

/// <summary>A call did not complete before its deadline. Names the actor, the method and the call chain.</summary>
public sealed class ActorCallTimeoutException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public ActorCallTimeoutException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A call would wait for itself: the target is a non-reentrant activation that is already waiting further up
/// the same call chain. Fails at once instead of deadlocking until the deadline.
/// </summary>
public sealed class CallCycleException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public CallCycleException(string message, IReadOnlyList<string> chain)
        : base(message)
    {
        Chain = chain;
    }

    /// <summary>The activations in the cycle, first caller first.</summary>
    public IReadOnlyList<string> Chain { get; }
}

/// <summary>The silo hosting the actor is gone or unreachable; calls in flight to it fail at once with this.</summary>
public class ActorUnavailableException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public ActorUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}

/// <summary>No silo hosts the actor interface and no configured helper provides it.</summary>
public sealed class ActorNotHostedException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public ActorNotHostedException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// A call was refused because a configured limit was reached in the silo that received it. Names the option,
/// the value it would have reached and the limit.
/// </summary>
public sealed class SandgrainLimitExceededException : ActorCallException
{
    /// <summary>Creates the exception.</summary>
    public SandgrainLimitExceededException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// The silo that hosts the actor turned the connection away before its handshake, with a reason (for example its
/// <see cref="SandgrainOptions.MaxConnections"/> limit). Nothing was sent.
/// </summary>
public sealed class ConnectionRefusedException : ActorUnavailableException
{
    /// <summary>Creates the exception.</summary>
    public ConnectionRefusedException(string message, string reason)
        : base(message)
    {
        Reason = reason;
    }

    /// <summary>The reason the other silo gave.</summary>
    public string Reason { get; }
}
