namespace Sandgrain.Transport;

/// <summary>
/// The platform whose App Sandbox and kernel limits a name or path is checked against.
/// The rules for macOS are checked on every platform, so that a configuration that would fail on a
/// user's Mac fails in tests on Linux too.
/// </summary>
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
