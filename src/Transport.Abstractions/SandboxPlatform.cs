namespace Sandgrain.Transport;

/// <summary>
/// The platform whose App Sandbox and kernel limits a name or path is checked against.
/// </summary>
/// <remarks>
/// By default the rules for macOS are checked on every platform, besides the running platform's own, so that a
/// configuration that would fail on a user's Mac fails in tests on Linux too: Mach service names (127 bytes,
/// the app-group prefix) and POSIX IPC names (31 bytes) always, and socket paths (103 bytes, 252 through the
/// oversized-address fallback) unless a transport's <c>Platform</c> option is set to <see cref="Linux"/>.
/// </remarks>
public enum SandboxPlatform
{
    /// <summary>macOS: <c>sun_path</c> of 104 bytes, Mach bootstrap names, POSIX IPC names of 31 bytes.</summary>
    MacOS,

    /// <summary>Linux: <c>sun_path</c> of 108 bytes; no App Sandbox.</summary>
    Linux,
}

/// <summary>Helpers for <see cref="SandboxPlatform"/>.</summary>
public static class SandboxPlatforms
{
    /// <summary>The platform this process runs on (macOS or, for every other Unix, Linux rules).</summary>
    public static SandboxPlatform Current => OperatingSystem.IsMacOS() ? SandboxPlatform.MacOS : SandboxPlatform.Linux;
}
