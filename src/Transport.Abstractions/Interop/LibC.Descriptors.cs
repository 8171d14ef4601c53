using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

// Linux only: a descriptor passed over a Unix socket (SCM_RIGHTS) and anonymous memory sealed against resizing
// (memfd), which the shared-memory transport maps instead of a file in the group container. The layouts are those
// of LP64 Linux (x86-64 and arm64 agree): msghdr is 56 bytes, cmsghdr 16 with its data at 16.
internal static partial class LibC
{
    // <bits/socket.h>: SOL_SOCKET 1, SCM_RIGHTS 1, MSG_CTRUNC 0x8, MSG_CMSG_CLOEXEC 0x40000000.
    internal const int LinuxSolSocket = 1;
    internal const int ScmRights = 1;
    internal const int LinuxMsgCtrunc = 0x8;
    internal const int LinuxMsgCmsgCloexec = 0x40000000;

    // <linux/memfd.h>: MFD_CLOEXEC 1, MFD_ALLOW_SEALING 2, MFD_NOEXEC_SEAL 8 (Linux 6.3); EINVAL 22.
    internal const uint MfdCloexec = 1;
    internal const uint MfdAllowSealing = 2;
    internal const uint MfdNoexecSeal = 8;
    internal const int EINVAL = 22;

    // <linux/fcntl.h>: F_ADD_SEALS 1033, F_GET_SEALS 1034; F_SEAL_SEAL 1, F_SEAL_SHRINK 2, F_SEAL_GROW 4.
    internal const int FAddSeals = 1033;
    internal const int FGetSeals = 1034;
    internal const int FSealSeal = 1;
    internal const int FSealShrink = 2;
    internal const int FSealGrow = 4;

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    /// <summary>Linux's <c>struct msghdr</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct LinuxMsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>Linux's <c>struct cmsghdr</c>; the data follows at <see cref="LinuxCmsgHeaderSize"/>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct LinuxCmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    internal const int LinuxCmsgHeaderSize = 16;

    /// <summary><c>CMSG_SPACE</c> for <paramref name="dataBytes"/> on Linux: the header and the data, each padded to 8 bytes.</summary>
    internal static int LinuxCmsgSpace(int dataBytes) => LinuxCmsgHeaderSize + ((dataBytes + 7) & ~7);

    [LibraryImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    internal static unsafe partial nint SendMsg(int fd, LinuxMsgHdr* message, int flags);

    [LibraryImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    internal static unsafe partial nint RecvMsg(int fd, LinuxMsgHdr* message, int flags);

    [LibraryImport(Lib, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int MemfdCreate(string name, uint flags);

    [LibraryImport(Lib, EntryPoint = "fallocate", SetLastError = true)]
    internal static partial int Fallocate(int fd, int mode, long offset, long length);

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int Ftruncate(int fd, long length);

    // fcntl is variadic; declared with its third argument as an int, which LP64 Linux passes exactly as a fixed
    // argument on x86-64 and arm64 alike (style.md item 15 is about Apple's arm64, where it would not be; this is
    // never called on macOS).
    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int LinuxFcntl(int fd, int command, int argument);
}
