using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

// libc entry points for what System.Net.Sockets.Socket cannot express, used by the Unix-socket transport (and
// through it the shared-memory transport's companion sockets): a directory handle for the Linux /proc/self/fd
// path, an oversized sockaddr_un on macOS, a send with per-call flags, and POLLHUP. Non-variadic declarations
// only (style.md item 15): open is declared with its two fixed arguments and is never used with O_CREAT, so no
// mode argument is ever needed.
internal static partial class LibC
{

    // Linux <asm-generic/fcntl.h>: O_PATH 010000000, O_CLOEXEC 02000000 (the same on x86-64 and arm64).
    internal const int LinuxO_PATH = 0x200000;
    internal const int LinuxO_CLOEXEC = 0x80000;

    // <sys/socket.h>: AF_UNIX 1, SOCK_STREAM 1 on Linux and macOS.
    internal const int AF_UNIX = 1;
    internal const int SOCK_STREAM = 1;

    // <poll.h>: the same values on Linux and macOS.
    internal const short POLLIN = 0x1;
    internal const short POLLOUT = 0x4;
    internal const short POLLHUP = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Lib, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    internal static unsafe partial int Bind(int fd, byte* address, uint length);

    [LibraryImport(Lib, EntryPoint = "connect", SetLastError = true)]
    internal static unsafe partial int Connect(int fd, byte* address, uint length);

    /// <summary><c>struct rlimit</c>: two <c>rlim_t</c> (64-bit on LP64 Linux and macOS).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    // <sys/resource.h>: RLIMIT_NOFILE is 7 on Linux, 8 on macOS.
    internal static int RLIMIT_NOFILE => OperatingSystem.IsMacOS() ? 8 : 7;

    [LibraryImport(Lib, EntryPoint = "getrlimit", SetLastError = true)]
    internal static unsafe partial int GetRLimit(int resource, RLimit* limit);

    [LibraryImport(Lib, EntryPoint = "socketpair", SetLastError = true)]
    internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* pair);

    [LibraryImport(Lib, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(Lib, EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    // MSG_DONTWAIT (see below): a receive that returns at once (EAGAIN) when nothing is there.
    internal static int ReceiveNonBlockingFlags => OperatingSystem.IsMacOS() ? 0x80 : 0x40;

    // <sys/socket.h>: MSG_DONTWAIT Linux 0x40, macOS 0x80; MSG_NOSIGNAL Linux 0x4000 (macOS sockets use SO_NOSIGPIPE instead).
    internal static int SendNonBlockingFlags => OperatingSystem.IsMacOS() ? 0x80 : 0x40 | 0x4000;

    internal static int SendBlockingFlags => OperatingSystem.IsMacOS() ? 0 : 0x4000;

    // macOS <sys/socket.h>: SO_NOSIGPIPE 0x1022 at SOL_SOCKET (0xffff).
    internal const int MacSolSocket = 0xffff;
    internal const int MacSoNoSigPipe = 0x1022;

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);
}
