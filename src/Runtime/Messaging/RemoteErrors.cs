using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>Turns exceptions into error frames and back, keeping the original type name, message and stack.</summary>
internal static class RemoteErrors
{
    internal static (ErrorKind Kind, string Type, string Message) Describe(Exception e) => e switch
    {
        CallCycleException => (ErrorKind.CallCycle, e.GetType().FullName!, e.Message),
        ActorNotHostedException => (ErrorKind.NotHosted, e.GetType().FullName!, e.Message),
        UnknownActorMethodException => (ErrorKind.UnknownMethod, e.GetType().FullName!, e.Message),
        MessagePack.MessagePackSerializationException => (ErrorKind.BadRequestBody, e.GetType().FullName!, "The request's arguments could not be decoded: " + (e.InnerException?.Message ?? e.Message)),
        SandgrainLimitExceededException => (ErrorKind.LimitExceeded, e.GetType().FullName!, e.Message),
        ActorUnavailableException => (ErrorKind.Unavailable, e.GetType().FullName!, e.Message),
        OperationCanceledException => (ErrorKind.Cancelled, e.GetType().FullName!, e.Message),
        _ => (ErrorKind.Application, e.GetType().FullName!, e.Message),
    };

    /// <summary>
    /// The exception a caller sees. Common framework exception types are recreated so that
    /// <c>catch (InvalidOperationException)</c> works across processes; the remote details stay in the inner exception.
    /// </summary>
    internal static Exception ToException(ErrorKind kind, string type, string message, string? stack, string call, IReadOnlyList<string> cycle)
    {
        var remote = new RemoteActorException(type, message, stack);
        return kind switch
        {
            ErrorKind.CallCycle => new CallCycleException(message, cycle),
            ErrorKind.NotHosted => new ActorNotHostedException(message),
            ErrorKind.UnknownMethod => new ActorCallException($"{call}: {message}", remote),
            ErrorKind.BadRequestBody => new ActorCallException($"{call}: {message}", remote),
            ErrorKind.LimitExceeded => new SandgrainLimitExceededException($"{call}: {message}"),
            ErrorKind.Unavailable => new ActorUnavailableException($"{call}: {message}", remote),
            ErrorKind.Cancelled => new OperationCanceledException($"{call} was cancelled in the actor's process: {message}", remote),
            _ => type switch
            {
                "System.ArgumentNullException" => new ArgumentNullException(message, remote),
                "System.ArgumentOutOfRangeException" => new ArgumentOutOfRangeException(message, remote),
                "System.ArgumentException" => new ArgumentException(message, remote),
                "System.InvalidOperationException" => new InvalidOperationException(message, remote),
                "System.NotSupportedException" => new NotSupportedException(message, remote),
                "System.NotImplementedException" => new NotImplementedException(message, remote),
                "System.Collections.Generic.KeyNotFoundException" => new KeyNotFoundException(message, remote),
                "System.FormatException" => new FormatException(message, remote),
                "System.TimeoutException" => new TimeoutException(message, remote),
                "System.UnauthorizedAccessException" => new UnauthorizedAccessException(message, remote),
                "System.IO.IOException" => new IOException(message, remote),
                _ => remote,
            },
        };
    }
}
