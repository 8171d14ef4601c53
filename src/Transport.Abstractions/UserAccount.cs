using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport;

/// <summary>Facts about the user this process runs as, read from the kernel and the user database.</summary>
public static class UserAccount
{
    /// <summary>The effective user id; peers must have the same one.</summary>
    public static uint EffectiveUserId => LibC.geteuid();

    /// <summary>
    /// The user's real home folder from the user database (<c>getpwuid_r(getuid())</c>).
    /// In a sandboxed macOS process <c>$HOME</c> points into the app's own container, not the real home
    /// (sandbox-facts §9.1), so the group container must not be derived from it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The user has no entry in the user database.</exception>
    public static string RealHomeDirectory()
    {
        var offset = PasswdLayout.HomeDirectoryOffset(OperatingSystem.IsMacOS() ? SandboxPlatform.MacOS : SandboxPlatform.Linux);
        return ReadHome(LibC.getuid(), offset);
    }

    private static unsafe string ReadHome(uint uid, int homeOffset)
    {
        var pwd = stackalloc byte[PasswdLayout.MaxSize];
        var bufferLength = 4096;
        while (true)
        {
            var buffer = new byte[bufferLength];
            fixed (byte* buf = buffer)
            {
                byte* result = null;
                var rc = LibC.getpwuid_r(uid, pwd, buf, (nuint)buffer.Length, &result);
                const int ERANGE = 34;
                if (rc == ERANGE && bufferLength < 1 << 20)
                {
                    bufferLength *= 4;
                    continue;
                }

                if (rc != 0 || result == null)
                {
                    throw new InvalidOperationException($"User id {uid} has no entry in the user database (getpwuid_r returned {rc}); the real home folder cannot be found.");
                }

                var dir = *(byte**)(pwd + homeOffset);
                return Marshal.PtrToStringUTF8((IntPtr)dir)
                    ?? throw new InvalidOperationException($"User id {uid} has no home folder in the user database.");
            }
        }
    }
}

/// <summary>
/// The layout of <c>struct passwd</c> on 64-bit platforms, from the C headers:
/// glibc <c>pwd.h</c>: pw_name, pw_passwd, pw_uid, pw_gid, pw_gecos, pw_dir (offset 32), pw_shell — 48 bytes;
/// macOS <c>pwd.h</c>: pw_name, pw_passwd, pw_uid, pw_gid, pw_change, pw_class, pw_gecos, pw_dir (offset 48), pw_shell, pw_expire — 72 bytes.
/// </summary>
internal static class PasswdLayout
{
    internal const int MaxSize = 128;

    internal static int HomeDirectoryOffset(SandboxPlatform platform) => platform == SandboxPlatform.MacOS ? 48 : 32;
}
