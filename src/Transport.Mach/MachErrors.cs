using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// Turns kernel and bootstrap-server return codes into exceptions that say what happened and what to change
/// (sandbox-facts.md, "Errors to translate"). Pure functions, so the messages are tested on every platform.
/// </summary>
internal static class MachErrors
{
    /// <summary>The symbolic name and value of a <c>kern_return_t</c>, <c>mach_msg_return_t</c> or bootstrap code.</summary>
    internal static string Describe(int code) => code switch
    {
        KERN_SUCCESS => "KERN_SUCCESS (0)",
        KERN_NO_SPACE => "KERN_NO_SPACE (3)",
        KERN_INVALID_ARGUMENT => "KERN_INVALID_ARGUMENT (4)",
        KERN_RESOURCE_SHORTAGE => "KERN_RESOURCE_SHORTAGE (6)",
        KERN_INVALID_NAME => "KERN_INVALID_NAME (15)",
        KERN_INVALID_RIGHT => "KERN_INVALID_RIGHT (17)",
        KERN_INVALID_VALUE => "KERN_INVALID_VALUE (18)",
        BOOTSTRAP_NOT_PRIVILEGED => "BOOTSTRAP_NOT_PRIVILEGED (1100)",
        BOOTSTRAP_NAME_IN_USE => "BOOTSTRAP_NAME_IN_USE (1101)",
        BOOTSTRAP_UNKNOWN_SERVICE => "BOOTSTRAP_UNKNOWN_SERVICE (1102)",
        BOOTSTRAP_SERVICE_ACTIVE => "BOOTSTRAP_SERVICE_ACTIVE (1103)",
        BOOTSTRAP_BAD_COUNT => "BOOTSTRAP_BAD_COUNT (1104)",
        BOOTSTRAP_NO_MEMORY => "BOOTSTRAP_NO_MEMORY (1105)",
        MACH_SEND_INVALID_DATA => "MACH_SEND_INVALID_DATA (0x10000002)",
        MACH_SEND_INVALID_DEST => "MACH_SEND_INVALID_DEST (0x10000003)",
        MACH_SEND_TIMED_OUT => "MACH_SEND_TIMED_OUT (0x10000004)",
        MACH_SEND_INTERRUPTED => "MACH_SEND_INTERRUPTED (0x10000007)",
        MACH_SEND_MSG_TOO_SMALL => "MACH_SEND_MSG_TOO_SMALL (0x10000008)",
        MACH_SEND_INVALID_RIGHT => "MACH_SEND_INVALID_RIGHT (0x1000000a)",
        MACH_SEND_INVALID_MEMORY => "MACH_SEND_INVALID_MEMORY (0x1000000c)",
        MACH_SEND_TOO_LARGE => "MACH_SEND_TOO_LARGE (0x1000000e)",
        MACH_SEND_INVALID_TYPE => "MACH_SEND_INVALID_TYPE (0x1000000f)",
        MACH_SEND_INVALID_HEADER => "MACH_SEND_INVALID_HEADER (0x10000010)",
        MACH_RCV_INVALID_NAME => "MACH_RCV_INVALID_NAME (0x10004002)",
        MACH_RCV_TIMED_OUT => "MACH_RCV_TIMED_OUT (0x10004003)",
        MACH_RCV_TOO_LARGE => "MACH_RCV_TOO_LARGE (0x10004004)",
        MACH_RCV_INTERRUPTED => "MACH_RCV_INTERRUPTED (0x10004005)",
        MACH_RCV_PORT_DIED => "MACH_RCV_PORT_DIED (0x10004009)",
        _ => $"error {code} (0x{code:x8})",
    };

    /// <summary>The exception for a failed <c>bootstrap_check_in</c> (binding a listener).</summary>
    internal static Exception ForCheckIn(int code, MachEndPoint endPoint, GroupId group) => code switch
    {
        BOOTSTRAP_NOT_PRIVILEGED => NotPrivileged("register", endPoint.ServiceName, group),
        BOOTSTRAP_NAME_IN_USE or BOOTSTRAP_SERVICE_ACTIVE => InUse(endPoint, "another instance of this service, or a stale registration left by one that exited", code),
        _ => new IOException($"Registering the Mach name '{endPoint.ServiceName}' for {endPoint} failed with {Describe(code)}."),
    };

    /// <summary>The exception for a failed <c>bootstrap_look_up</c> (connecting).</summary>
    internal static Exception ForLookUp(int code, MachEndPoint endPoint, GroupId group) => code switch
    {
        BOOTSTRAP_NOT_PRIVILEGED => NotPrivileged("look up", endPoint.ServiceName, group),
        BOOTSTRAP_UNKNOWN_SERVICE => new EndpointNotFoundException(
            endPoint.ToString(),
            $"Nothing listens at {endPoint}: no process has registered the Mach name '{endPoint.ServiceName}' ({Describe(code)}). The peer is not running, or it runs under a different app group."),
        _ => new IOException($"Looking up the Mach name '{endPoint.ServiceName}' for {endPoint} failed with {Describe(code)}."),
    };

    /// <summary>1100: the App Sandbox (or launchd, for a name another job owns) refused the name.</summary>
    internal static UnauthorizedAccessException NotPrivileged(string operation, string serviceName, GroupId group) =>
        new($"The App Sandbox does not allow this process to {operation} the Mach name '{serviceName}' ({Describe(BOOTSTRAP_NOT_PRIVILEGED)}). " +
            $"Sandboxed processes may only register and look up names that start with '{group}.' (the app group in the configuration), " +
            $"and only when the process is signed with the com.apple.security.application-groups entitlement listing '{group}'. " +
            "Check that entitlement, or configure the app group the process is actually signed with.");

    /// <summary>1101/1103, or a live holder found by a look-up: the name is taken. <paramref name="code"/> is null when launchd was not asked.</summary>
    internal static EndpointInUseException InUse(MachEndPoint endPoint, string holder, int? code)
    {
        var reported = code is { } value ? $" ({Describe(value)})" : "";
        return new(endPoint.ToString(), $"{endPoint} is in use: the Mach name '{endPoint.ServiceName}' is already registered{reported} by {holder}. Stop that process, or use another address.");
    }

    /// <summary>The look-up found the name, but its port is dead: the listener's process has exited.</summary>
    internal static EndpointNotFoundException HolderExited(MachEndPoint endPoint) =>
        new(endPoint.ToString(), $"Nothing listens at {endPoint}: the Mach name '{endPoint.ServiceName}' belongs to a process that has exited.");
}
