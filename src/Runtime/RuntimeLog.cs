using Microsoft.Extensions.Logging;
using Sandgrain.Transport;

namespace Sandgrain.Runtime;

/// <summary>Source-generated log messages of the runtime, with stable event ids.</summary>
internal static partial class RuntimeLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Closed the connection to {Peer}: it sent {Violation}.{Suppressed}")]
    private static partial void ProtocolViolation(ILogger logger, string peer, string violation, string suppressed);

    private static readonly LogThrottle s_protocolViolation = new(20, TimeSpan.FromSeconds(1));

    internal static void ProtocolViolation(ILogger logger, string peer, string violation)
    {
        if (s_protocolViolation.TryEnter(logger, out var note))
        {
            ProtocolViolation(logger, peer, violation, note);
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "{Peer} said goodbye.")]
    internal static partial void Goodbye(ILogger logger, string peer);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "A one-way call to {Interface}/{Key} failed.")]
    internal static partial void OneWayFailed(ILogger logger, string @interface, string key, Exception exception);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Silo {SiloId} is up{HelperText}: hosting [{ActorTypes}] at [{Addresses}].")]
    internal static partial void SiloStarted(ILogger logger, string siloId, string helperText, string actorTypes, string addresses);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Silo {SiloId} stopped: {Activations} activation(s) deactivated.")]
    internal static partial void SiloStopped(ILogger logger, string siloId, int activations);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Refused an incoming connection: {Reason}{Suppressed}")]
    private static partial void InboundRefused(ILogger logger, string reason, string suppressed);

    /// <summary>At most 20 a second: the peers being refused are the ones that could flood the log.</summary>
    private static readonly LogThrottle s_inboundRefused = new(20, TimeSpan.FromSeconds(1));

    internal static void InboundRefused(ILogger logger, string reason)
    {
        if (s_inboundRefused.TryEnter(logger, out var note))
        {
            InboundRefused(logger, reason, note);
        }
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Refused a request from {Peer}: {Reason}{Suppressed}")]
    private static partial void RequestRefused(ILogger logger, string peer, string reason, string suppressed);

    private static readonly LogThrottle s_requestRefused = new(20, TimeSpan.FromSeconds(1));

    internal static void RequestRefused(ILogger logger, string peer, string reason)
    {
        if (s_requestRefused.TryEnter(logger, out var note))
        {
            RequestRefused(logger, peer, reason, note);
        }
    }

    [LoggerMessage(EventId = 3006, Level = LogLevel.Error, Message = "A timer of {ActorId} failed.")]
    internal static partial void TimerFailed(ILogger logger, string actorId, Exception exception);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Deactivating {ActorId} failed.")]
    internal static partial void DeactivationFailed(ILogger logger, string actorId, Exception exception);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Helper {Helper} has had no connections and no activations for {Seconds:0.#} s; exiting.")]
    internal static partial void IdleExit(ILogger logger, string helper, double seconds);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Closed the connection to {Peer}: {Reason}{Suppressed}")]
    private static partial void SendStalled(ILogger logger, string peer, string reason, string suppressed);

    private static readonly LogThrottle s_sendStalled = new(20, TimeSpan.FromSeconds(1));

    /// <summary>A peer that stops reading is closed; many such peers must not flood the log.</summary>
    internal static void SendStalled(ILogger logger, string peer, string reason)
    {
        if (s_sendStalled.TryEnter(logger, out var note))
        {
            SendStalled(logger, peer, reason, note);
        }
    }

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Shutdown cut short after {Seconds:0.###} s (Sandgrain:ShutdownTimeout): {What}.")]
    internal static partial void ShutdownCutShort(ILogger logger, double seconds, string what);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Debug, Message = "Collected {Count} idle activation(s).")]
    internal static partial void Collected(ILogger logger, int count);

    /// <summary>
    /// Debug, not a warning: first calls hold the thread this long while the JIT compiles them, and a takeover costs
    /// little; code that blocks for good shows as one of these per blocked call.
    /// </summary>
    [LoggerMessage(EventId = 3013, Level = LogLevel.Debug, Message = "Code run on the thread that reads the connection to {Peer} held it for more than {Milliseconds:0} ms (Sandgrain:ReceiveStallThreshold): an actor method or a caller's continuation that blocks, or the first compilation of a call path. Another thread reads the connection now; the held one goes back when the code returns.")]
    internal static partial void ReceiveStalled(ILogger logger, string peer, double milliseconds);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Error, Message = "The deadline sweep of the connection to {Peer} failed; it goes on at the next tick.")]
    internal static partial void WatchFailed(ILogger logger, string peer, Exception exception);
}
