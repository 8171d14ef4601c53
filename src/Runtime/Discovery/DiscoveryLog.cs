using Microsoft.Extensions.Logging;

namespace Sandgrain.Runtime.Discovery;

/// <summary>Source-generated log messages of the registry and launcher, with stable event ids.</summary>
internal static partial class DiscoveryLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Warning, Message = "Skipped registry file {Path}: {Reason}")]
    internal static partial void BadRecord(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Reaped silo {SiloId} (helper {Helper}, pid {Pid}): its process is gone.")]
    internal static partial void Reaped(ILogger logger, string siloId, string? helper, int pid);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Launching helper {Helper}: {Executable} as silo {SiloId}.")]
    internal static partial void Launching(ILogger logger, string helper, string executable, string siloId);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Helper {Helper} is up: pid {Pid}, registered after {Milliseconds:F1} ms.")]
    internal static partial void Launched(ILogger logger, string helper, int pid, double milliseconds);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Debug, Message = "Published silo {SiloId} at {Path}.")]
    internal static partial void Published(ILogger logger, string siloId, string path);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Could not reap silo {SiloId}: {Reason}")]
    internal static partial void ReapFailed(ILogger logger, string siloId, string reason);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Helper {Helper} exited with code {ExitCode} because another instance holds its instance lock; waiting for that one.")]
    internal static partial void InstanceTaken(ILogger logger, string helper, int exitCode);
}
