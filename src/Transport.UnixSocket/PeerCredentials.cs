using System.Buffers.Binary;
using System.Net.Sockets;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>Reads the kernel's record of who is at the other end of a connected Unix socket.</summary>
internal static class PeerCredentials
{
    // Linux <asm-generic/socket.h>: SOL_SOCKET 1, SO_PEERCRED 17 -> struct ucred { pid_t pid; uid_t uid; gid_t gid; } (12 bytes).
    private const int LinuxSolSocket = 1;
    private const int LinuxSoPeerCred = 17;

    // macOS XNU bsd/sys/un.h: SOL_LOCAL 0, LOCAL_PEERCRED 1 -> struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; } (76 bytes),
    // LOCAL_PEERPID 2 -> pid_t.
    private const int MacSolLocal = 0;
    private const int MacLocalPeerCred = 1;
    private const int MacLocalPeerPid = 2;
    private const int MacXucredSize = 76;

    internal static PeerIdentity Read(Socket socket)
    {
        if (OperatingSystem.IsMacOS())
        {
            Span<byte> cred = stackalloc byte[MacXucredSize];
            socket.GetRawSocketOption(MacSolLocal, MacLocalPeerCred, cred);
            var uid = BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]);
            Span<byte> pid = stackalloc byte[4];
            var pidLength = socket.GetRawSocketOption(MacSolLocal, MacLocalPeerPid, pid);
            return new PeerIdentity(uid, pidLength == 4 ? NonZero(BinaryPrimitives.ReadInt32LittleEndian(pid)) : null);
        }

        Span<byte> ucred = stackalloc byte[12];
        socket.GetRawSocketOption(LinuxSolSocket, LinuxSoPeerCred, ucred);
        return ParseLinuxUcred(ucred);
    }

    /// <summary>Parses a Linux <c>struct ucred</c>; a pid of 0 means the peer is not visible in this PID namespace.</summary>
    internal static PeerIdentity ParseLinuxUcred(ReadOnlySpan<byte> ucred) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]), NonZero(BinaryPrimitives.ReadInt32LittleEndian(ucred)));

    private static int? NonZero(int pid) => pid > 0 ? pid : null;
}
