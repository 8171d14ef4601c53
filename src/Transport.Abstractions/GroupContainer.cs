namespace Sandgrain.Transport;

/// <summary>
/// The folder shared by every process of one app group, and Sandgrain's private part of it,
/// <c>&lt;container&gt;/.sandgrain/</c> (mode 0700; files in it 0600).
/// </summary>
/// <remarks>
/// On macOS the container is <c>&lt;real home&gt;/Library/Group Containers/&lt;group-id&gt;</c>, the one folder
/// the App Sandbox lets every member of the group read and write (sandbox-facts §4.1, §9.1). Elsewhere it
/// is a configured folder, by default <c>$XDG_RUNTIME_DIR/&lt;group-id&gt;</c>, else
/// <c>&lt;temp&gt;/sandgrain-&lt;uid&gt;/&lt;group-id&gt;</c>.
/// </remarks>
public sealed class GroupContainer
{
    /// <summary>The name of Sandgrain's folder inside the container.</summary>
    public const string SandgrainFolderName = ".sandgrain";

    /// <summary>
    /// Bytes that Sandgrain's own files need below the container path: <c>/.sandgrain/registry/&lt;16 hex&gt;.json</c>
    /// and its temporary name, and the other folders' files, all shorter.
    /// </summary>
    internal const int ReservedPathBytes = 64;

    /// <summary>Longest file name (one path component) on Linux and macOS, in bytes (<c>NAME_MAX</c>).</summary>
    internal const int NameMaxBytes = 255;

    /// <summary>Why Sandgrain does not run here (Windows).</summary>
    internal const string NotSupportedMessage = "Sandgrain needs macOS or Linux (app group containers, Unix file modes and Unix-socket credentials); this platform has none of them.";

    private GroupContainer(GroupId groupId, string path)
    {
        GroupId = groupId;
        Path = path;
        SandgrainPath = System.IO.Path.Combine(path, SandgrainFolderName);
    }

    /// <summary>The app group this container belongs to.</summary>
    public GroupId GroupId { get; }

    /// <summary>The container folder, absolute.</summary>
    public string Path { get; }

    /// <summary>Sandgrain's private folder, <c>&lt;container&gt;/.sandgrain</c>.</summary>
    public string SandgrainPath { get; }

    /// <summary>
    /// Resolves the container for <paramref name="groupId"/>, creates <c>.sandgrain/</c> with mode 0700 and
    /// proves it is writable with a test write.
    /// </summary>
    /// <param name="groupId">The app group.</param>
    /// <param name="directory">The container folder to use instead of the platform default (required for tests and for non-macOS hosts that share a folder).</param>
    /// <exception cref="SandboxNameException">
    /// The path is longer than the platform's <c>PATH_MAX</c> allows (with room for Sandgrain's files under it), or one
    /// of its components is longer than <c>NAME_MAX</c>; the message names the length, the limit and which.
    /// </exception>
    /// <exception cref="IOException">The folder cannot be created or written; the message names the path.</exception>
    /// <exception cref="UnauthorizedAccessException">The folder belongs to another user or is not writable.</exception>
    /// <exception cref="PlatformNotSupportedException">Not macOS or another Unix (Windows has no app groups, Unix file modes or Unix-socket credentials).</exception>
    public static GroupContainer Open(GroupId groupId, string? directory = null)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        if (!PrivateFile.HasUnixModes)
        {
            throw new PlatformNotSupportedException(NotSupportedMessage);
        }

        var path = directory is null ? DefaultPath(groupId) : System.IO.Path.GetFullPath(directory);
        var container = new GroupContainer(groupId, path.TrimEnd('/').Length == 0 ? "/" : path.TrimEnd('/'));
        CheckPathLimits(container.Path, SandboxPlatforms.Current);
        container.Prepare();
        return container;
    }

    /// <summary>Longest path on <paramref name="platform"/>, in bytes with the NUL (<c>PATH_MAX</c>: Linux 4096, macOS 1024).</summary>
    internal static int PathMaxBytes(SandboxPlatform platform) => platform == SandboxPlatform.MacOS ? 1024 : 4096;

    /// <summary>
    /// Refuses a container path that no system call can reach: a component over <c>NAME_MAX</c>, or a path that
    /// with Sandgrain's files under it would not fit <c>PATH_MAX</c>. Without this the first failure would be an
    /// <c>ENAMETOOLONG</c> reported as a folder that cannot be created or written.
    /// </summary>
    /// <exception cref="SandboxNameException">The path breaks a limit; the message gives the length, the limit and which.</exception>
    internal static void CheckPathLimits(string path, SandboxPlatform platform)
    {
        var os = platform == SandboxPlatform.MacOS ? "macOS" : "Linux";
        foreach (var component in path.Split('/'))
        {
            var componentLength = SandboxNameRules.Utf8Length(component);
            if (componentLength > NameMaxBytes)
            {
                throw new SandboxNameException(
                    $"The group container path '{path}' has a component of {componentLength} bytes ('{component[..Math.Min(component.Length, 24)]}…'); {os} allows {NameMaxBytes} bytes per file or folder name (NAME_MAX). Use a container folder with shorter names (Sandgrain:ContainerPath).",
                    component, componentLength, NameMaxBytes);
            }
        }

        var length = SandboxNameRules.Utf8Length(path);
        var pathMax = PathMaxBytes(platform);
        var limit = pathMax - 1 - ReservedPathBytes;
        if (length > limit)
        {
            throw new SandboxNameException(
                $"The group container path is {length} bytes; {os} allows {pathMax - 1} bytes in a path (PATH_MAX is {pathMax} with the NUL) and Sandgrain needs {ReservedPathBytes} of them for its files under the container, so the container path may be at most {limit} bytes. Use a container folder with a shorter path (Sandgrain:ContainerPath). The path begins '{path[..Math.Min(path.Length, 60)]}…'.",
                path, length, limit);
        }
    }

    /// <summary>The default container folder for <paramref name="groupId"/> on this platform.</summary>
    public static string DefaultPath(GroupId groupId)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        if (OperatingSystem.IsMacOS())
        {
            return System.IO.Path.Combine(UserAccount.RealHomeDirectory(), "Library", "Group Containers", groupId.Value);
        }

        var runtimeDir = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(runtimeDir) && System.IO.Path.IsPathRooted(runtimeDir) && Directory.Exists(runtimeDir))
        {
            return System.IO.Path.Combine(runtimeDir, groupId.Value);
        }

        var perUser = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sandgrain-" + UserAccount.EffectiveUserId);
        CreatePrivateFolder(perUser);
        return System.IO.Path.Combine(perUser, groupId.Value);
    }

    /// <summary>
    /// Returns <c>.sandgrain/&lt;name&gt;</c>, creating it with mode 0700 if needed, so that a folder removed
    /// while the process runs is recreated on next use.
    /// </summary>
    public string GetSandgrainFolder(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        CreatePrivateFolder(SandgrainPath);
        var folder = System.IO.Path.Combine(SandgrainPath, name);
        CreatePrivateFolder(folder);
        return folder;
    }

    /// <summary>Resolves a path relative to the container (as used in addresses) to an absolute path inside it.</summary>
    /// <exception cref="ArgumentException">The relative path is rooted or climbs out of the container.</exception>
    public string Resolve(string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(relativePath);
        if (System.IO.Path.IsPathRooted(relativePath) || relativePath.Split('/').Contains(".."))
        {
            throw new ArgumentException($"'{relativePath}' must be a path relative to the group container with no '..' segments.", nameof(relativePath));
        }

        return System.IO.Path.Combine(Path, relativePath);
    }

    /// <inheritdoc />
    public override string ToString() => $"{GroupId} at {Path}";

    private void Prepare()
    {
        try
        {
            Directory.CreateDirectory(Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"The group container '{Path}' for app group '{GroupId}' cannot be created: {e.Message} On macOS, check that the app is signed with the com.apple.security.application-groups entitlement naming '{GroupId}'.", e);
        }

        CreatePrivateFolder(SandgrainPath);
        var probe = System.IO.Path.Combine(SandgrainPath, $".probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"The group container folder '{SandgrainPath}' is not writable: {e.Message}", e);
        }
    }

    /// <summary>
    /// Creates a folder with mode 0700, or makes an existing one 0700. Only the owner (or root) may change a
    /// folder's mode, so this also refuses a folder that another user created first in a shared place.
    /// </summary>
    internal static void CreatePrivateFolder(string path)
    {
        if (!PrivateFile.HasUnixModes)
        {
            Directory.CreateDirectory(path);
            return;
        }

        Directory.CreateDirectory(path, PrivateFile.FolderMode0700);
        try
        {
            if (File.GetUnixFileMode(path) != PrivateFile.FolderMode0700)
            {
                File.SetUnixFileMode(path, PrivateFile.FolderMode0700);
            }
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"'{path}' belongs to another user; Sandgrain keeps its files only in folders the current user owns (mode 0700).", e);
        }
    }
}
