using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

/// <summary>
/// Every libc entry point Sandgrain's transports call, in one place so that one resolver maps "libc" to the
/// platform's C library (<see cref="LibCResolver"/>) and each constant is defined once. Non-variadic functions
/// only, declared with <see cref="LibraryImportAttribute"/> so they are AOT-safe (style.md item 15); sockets in
/// <c>LibC.Sockets.cs</c>, the futex system call in <c>LibC.Futex.cs</c>.
/// </summary>
internal static partial class LibC
{
    private const string Lib = "libc";

    internal const int LOCK_SH = 1;
    internal const int LOCK_EX = 2;
    internal const int LOCK_NB = 4;
    internal const int LOCK_UN = 8;

    // errno values shared by Linux and macOS.
    internal const int EINTR = 4;

    // EWOULDBLOCK differs: Linux 11 (EAGAIN), macOS 35 (EAGAIN).
    internal static int EWOULDBLOCK => OperatingSystem.IsMacOS() ? 35 : 11;

    // <sys/errno.h>: EAGAIN is EWOULDBLOCK on both.
    internal static int EAGAIN => EWOULDBLOCK;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int flock(int fd, int operation);

    [LibraryImport(Lib)]
    internal static partial uint geteuid();

    [LibraryImport(Lib)]
    internal static partial uint getuid();

    [LibraryImport(Lib, SetLastError = true)]
    internal static unsafe partial int getpwuid_r(uint uid, byte* pwd, byte* buf, nuint buflen, byte** result);
}
