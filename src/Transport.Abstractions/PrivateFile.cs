using System.Runtime.Versioning;

namespace Sandgrain.Transport;

/// <summary>
/// Files and folders Sandgrain creates are private to the user: files 0600, folders 0700. The one place that sets
/// Unix modes, so that no caller needs a platform annotation: Sandgrain runs on macOS and Linux, and
/// <see cref="GroupContainer.Open"/> refuses any other platform with a message before a file is made.
/// </summary>
internal static class PrivateFile
{
    /// <summary>The mode of files Sandgrain creates: read and write for the owner only (0600).</summary>
    internal const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The mode of folders Sandgrain creates: the owner only (0700).</summary>
    internal const UnixFileMode FolderMode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>True where Unix file modes exist (every platform Sandgrain runs on).</summary>
    [UnsupportedOSPlatformGuard("windows")]
    internal static bool HasUnixModes => !OperatingSystem.IsWindows();

    /// <summary>Options that create a file with mode 0600.</summary>
    internal static FileStreamOptions Options(FileMode mode, FileAccess access, FileShare share = FileShare.Read)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (HasUnixModes && mode is FileMode.CreateNew or FileMode.Create or FileMode.OpenOrCreate)
        {
            options.UnixCreateMode = FileMode0600;
        }

        return options;
    }

    /// <summary>Sets mode 0600 on an open file.</summary>
    internal static void MakePrivate(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        if (HasUnixModes)
        {
            File.SetUnixFileMode(handle, FileMode0600);
        }
    }

    /// <summary>Sets mode 0600 on a file.</summary>
    internal static void MakePrivate(string path)
    {
        if (HasUnixModes)
        {
            File.SetUnixFileMode(path, FileMode0600);
        }
    }
}
