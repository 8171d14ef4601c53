using System.Text;

namespace Sandgrain.Transport;

/// <summary>
/// The App Sandbox and kernel naming rules for IPC names and socket paths, as one component.
/// Every rule is checked up front so that a violation is a clear configuration error, never a
/// failed <c>bind</c> or a sandbox denial on a user's Mac.
/// </summary>
/// <remarks>
/// Sources (see sandbox-facts.md):
/// Mach names: §2, <c>BOOTSTRAP_MAX_NAME_LEN</c> 128 / <c>name_t char[128]</c>, and the app-group rule
/// "<c>&lt;group-id&gt;.</c> prefix" from the sandbox profile.
/// POSIX IPC: §3, XNU <c>PSHMNAMLEN</c> = <c>PSEMNAMLEN</c> = 31; <c>shm_open</c> allows 31 bytes, <c>sem_open</c>
/// counts the NUL so 30; names are <c>&lt;group-id&gt;/&lt;name&gt;</c> with no leading slash.
/// Socket paths: §4, macOS <c>sun_path[104]</c> (103 bytes + NUL), Linux <c>UNIX_PATH_MAX</c> 108 (107 + NUL);
/// the macOS kernel accepts a longer <c>sockaddr_un</c> (sun_len up to 255, 253 path bytes with the NUL).
/// </remarks>
public static class SandboxNameRules
{
    /// <summary>Longest Mach bootstrap service name, in bytes without the NUL (<c>name_t</c> is 128 bytes).</summary>
    public const int MachServiceNameMaxBytes = 127;

    /// <summary>Longest POSIX shared-memory name on macOS, in bytes without the NUL (<c>PSHMNAMLEN</c>).</summary>
    public const int PosixSharedMemoryNameMaxBytes = 31;

    /// <summary>Longest POSIX semaphore name on macOS, in bytes without the NUL (<c>PSEMNAMLEN</c> counts the NUL).</summary>
    public const int PosixSemaphoreNameMaxBytes = 30;

    /// <summary>Longest socket path that fits macOS <c>sun_path[104]</c>, in bytes without the NUL.</summary>
    public const int MacOSSocketPathMaxBytes = 103;

    /// <summary>Longest socket path that fits Linux <c>sun_path[108]</c>, in bytes without the NUL.</summary>
    public const int LinuxSocketPathMaxBytes = 107;

    /// <summary>Longest socket path macOS accepts through an oversized <c>sockaddr_un</c> (sun_len ≤ 255), without the NUL.</summary>
    public const int MacOSLongSocketPathMaxBytes = 252;

    /// <summary>Longest socket path that fits <c>sun_path</c> on <paramref name="platform"/>, in bytes without the NUL.</summary>
    public static int SocketPathMaxBytes(SandboxPlatform platform) =>
        platform == SandboxPlatform.MacOS ? MacOSSocketPathMaxBytes : LinuxSocketPathMaxBytes;

    /// <summary>
    /// Builds the Mach service name <c>&lt;group-id&gt;.&lt;name&gt;</c> and checks it against the sandbox's
    /// prefix rule and the bootstrap name limit.
    /// </summary>
    /// <exception cref="SandboxNameException">The name is empty, has a NUL, or is too long.</exception>
    public static string MachServiceName(GroupId group, string name)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(name);
        RequireSuffix(name, "Mach service");
        var full = group.Value + "." + name;
        CheckMachServiceName(group, full);
        return full;
    }

    /// <summary>Checks a complete Mach service name: it must start with <c>&lt;group-id&gt;.</c> and fit 127 bytes.</summary>
    /// <exception cref="SandboxNameException">The name breaks a rule; the message says which and how to fix it.</exception>
    public static void CheckMachServiceName(GroupId group, string fullName)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(fullName);
        var prefix = group.Value + ".";
        if (!fullName.StartsWith(prefix, StringComparison.Ordinal) || fullName.Length == prefix.Length)
        {
            throw new SandboxNameException(
                $"Mach service name '{fullName}' is not allowed by the App Sandbox: sandboxed processes may only register and look up names that start with '{prefix}' (the app group id and a dot) followed by a name.",
                fullName, Utf8Length(fullName), MachServiceNameMaxBytes);
        }

        var length = Utf8Length(fullName);
        if (length > MachServiceNameMaxBytes)
        {
            throw new SandboxNameException(
                $"Mach service name '{fullName}' is {length} bytes; the bootstrap server allows {MachServiceNameMaxBytes} (name_t is 128 bytes with the NUL). Use a shorter name after '{prefix}' or a shorter app group id.",
                fullName, length, MachServiceNameMaxBytes);
        }
    }

    /// <summary>Builds the POSIX shared-memory name <c>&lt;group-id&gt;/&lt;name&gt;</c> and checks the 31-byte limit.</summary>
    /// <exception cref="SandboxNameException">The name is too long or malformed.</exception>
    public static string PosixSharedMemoryName(GroupId group, string name) =>
        PosixName(group, name, PosixSharedMemoryNameMaxBytes, "shared memory");

    /// <summary>Builds the POSIX semaphore name <c>&lt;group-id&gt;/&lt;name&gt;</c> and checks the 30-byte limit.</summary>
    /// <exception cref="SandboxNameException">The name is too long or malformed.</exception>
    public static string PosixSemaphoreName(GroupId group, string name) =>
        PosixName(group, name, PosixSemaphoreNameMaxBytes, "semaphore");

    /// <summary>True when <paramref name="path"/> fits <c>sun_path</c> on <paramref name="platform"/> as it is.</summary>
    public static bool SocketPathFits(string path, SandboxPlatform platform)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Utf8Length(path) <= SocketPathMaxBytes(platform);
    }

    /// <summary>
    /// Checks a socket path against <c>sun_path</c> on <paramref name="platform"/>, with no fallback.
    /// </summary>
    /// <exception cref="SandboxNameException">The path is too long; the message gives the length, the limit and the fix.</exception>
    public static void CheckSocketPath(string path, SandboxPlatform platform)
    {
        ArgumentNullException.ThrowIfNull(path);
        var length = Utf8Length(path);
        var limit = SocketPathMaxBytes(platform);
        if (length > limit)
        {
            var os = platform == SandboxPlatform.MacOS ? "macOS" : "Linux";
            throw new SandboxNameException(
                $"Socket path '{path}' is {length} bytes; {os} sockaddr_un allows {limit} (sun_path is {limit + 1} bytes with the NUL). Use a shorter socket name, a shorter app group id, or a container folder with a shorter path.",
                path, length, limit);
        }
    }

    /// <summary>The number of UTF-8 bytes in <paramref name="value"/>, the unit every kernel limit counts in.</summary>
    public static int Utf8Length(string value) => Encoding.UTF8.GetByteCount(value);

    private static string PosixName(GroupId group, string name, int limit, string kind)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith('/'))
        {
            throw new SandboxNameException(
                $"POSIX {kind} name suffix '{name}' starts with '/'; sandboxed names are '<group-id>/<name>' with no leading slash, so pass the name without it.",
                name, 0, 0);
        }

        RequireSuffix(name, $"POSIX {kind}");
        if (name.Contains('/', StringComparison.Ordinal))
        {
            throw new SandboxNameException($"POSIX {kind} name suffix '{name}' contains '/'; only the separator after the app group id may be a slash.", name, 0, 0);
        }

        var full = group.Value + "/" + name;
        var length = Utf8Length(full);
        if (length > limit)
        {
            var budget = limit - Utf8Length(group.Value) - 1;
            var fix = budget >= 4
                ? $"Use a suffix of at most {budget} bytes."
                : $"The app group id leaves {Math.Max(budget, 0)} bytes for a name; add a short IPC-only app group (e.g. 'ABCDE12345.ipc') or map a file in the group container instead.";
            throw new SandboxNameException(
                $"POSIX {kind} name '{full}' is {length} bytes; macOS allows {limit} for {kind} names, including the '{group.Value}/' prefix. {fix}",
                full, length, limit);
        }

        return full;
    }

    private static void RequireSuffix(string name, string kind)
    {
        if (name.Length == 0)
        {
            throw new SandboxNameException($"The {kind} name after the app group prefix is empty; give it a short name.", name, 0, 0);
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new SandboxNameException($"The {kind} name '{name.Replace('\0', '?')}' contains a NUL character.", name, 0, 0);
        }
    }
}
