using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>How a socket path is handed to the kernel.</summary>
internal enum SocketPathKind
{
    /// <summary>The path fits <c>sun_path</c> as it is.</summary>
    Direct,

    /// <summary>Linux: the path is reached through <c>/proc/self/fd/&lt;dir-fd&gt;/&lt;name&gt;</c>, which fits.</summary>
    LinuxProcFd,

    /// <summary>macOS: an oversized <c>sockaddr_un</c> with <c>sun_len</c> up to 255, built and passed by P/Invoke.</summary>
    MacOSLongAddress,
}

/// <summary>
/// The plan for binding or connecting to one socket path, decided at configuration time so a path that no
/// method can reach is refused with the limits in the message, never discovered as a failed <c>bind</c>.
/// </summary>
/// <remarks>
/// DESIGN §4: when the container path is too long, use what the platform allows — never <c>chdir</c>, which is
/// process-wide. sandbox-facts §4.3: Linux <c>UNIX_PATH_MAX</c> 108; macOS <c>sun_path[104]</c>, while the macOS
/// kernel accepts <c>sun_len</c> up to 255 (253 path bytes with the NUL).
/// </remarks>
internal sealed class SocketPathPlan
{
    // "/proc/self/fd/" + up to 10 digits + "/" must leave room for the file name within 107 bytes.
    internal const int LinuxProcFdPrefixMaxBytes = 25;

    private SocketPathPlan(string fullPath, SocketPathKind kind)
    {
        FullPath = fullPath;
        Kind = kind;
    }

    internal string FullPath { get; }

    internal SocketPathKind Kind { get; }

    internal static SocketPathPlan Create(string fullPath, SandboxPlatform platform)
    {
        if (SandboxNameRules.SocketPathFits(fullPath, platform))
        {
            return new SocketPathPlan(fullPath, SocketPathKind.Direct);
        }

        var length = SandboxNameRules.Utf8Length(fullPath);
        if (platform == SandboxPlatform.Linux)
        {
            var leaf = Path.GetFileName(fullPath);
            var leafLimit = SandboxNameRules.LinuxSocketPathMaxBytes - LinuxProcFdPrefixMaxBytes;
            if (SandboxNameRules.Utf8Length(leaf) <= leafLimit)
            {
                return new SocketPathPlan(fullPath, SocketPathKind.LinuxProcFd);
            }

            throw new SandboxNameException(
                $"Socket path '{fullPath}' is {length} bytes, over Linux's {SandboxNameRules.LinuxSocketPathMaxBytes}, and its file name '{leaf}' is too long for the /proc/self/fd fallback (at most {leafLimit} bytes). Use a shorter socket name.",
                fullPath, length, SandboxNameRules.LinuxSocketPathMaxBytes);
        }

        if (length <= SandboxNameRules.MacOSLongSocketPathMaxBytes)
        {
            return new SocketPathPlan(fullPath, SocketPathKind.MacOSLongAddress);
        }

        throw new SandboxNameException(
            $"Socket path '{fullPath}' is {length} bytes; macOS allows {SandboxNameRules.MacOSSocketPathMaxBytes} in sockaddr_un and at most {SandboxNameRules.MacOSLongSocketPathMaxBytes} through an oversized address. Use a shorter socket name or app group id.",
            fullPath, length, SandboxNameRules.MacOSLongSocketPathMaxBytes);
    }

    /// <summary>Creates a socket bound to the path (not yet listening).</summary>
    internal Socket Bind()
    {
        switch (Kind)
        {
            case SocketPathKind.Direct:
                return BindManaged(FullPath);
            case SocketPathKind.LinuxProcFd:
                using (var dir = OpenDirectory())
                {
                    return BindManaged(dir.ProcPath(Path.GetFileName(FullPath)));
                }

            default:
                return MacOSLongAddress(bind: true);
        }
    }

    /// <summary>
    /// Connects a new socket to the path. A Unix-domain connect completes at once or not at all, except on Linux when
    /// the listener's backlog is full (it stopped accepting): a blocking connect would then wait for as long as the
    /// listener does, so each try waits at most <see cref="ConnectAttemptWait"/> and is repeated after a short, growing
    /// pause until <paramref name="cancellationToken"/> ends it.
    /// </summary>
    /// <remarks>
    /// The try is a blocking connect bounded by <c>SO_SNDTIMEO</c> (Linux's <c>unix_stream_connect</c> waits for room
    /// in the backlog for at most the send timeout, then fails with <c>EAGAIN</c>), not a non-blocking one: .NET keeps
    /// a socket that was ever non-blocking non-blocking for good and emulates every later blocking receive through its
    /// epoll thread, which costs each receive a thread hop.
    /// </remarks>
    internal async ValueTask<Socket> ConnectAsync(CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            try
            {
                return Connect(bounded: true);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.TryAgain or SocketError.InProgress)
            {
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 50));
            }
        }
    }

    /// <summary>Connects a new socket to the path (blocking: for probes of a socket this process controls).</summary>
    internal Socket Connect() => Connect(bounded: false);

    /// <summary>How long one connect try may wait for a listener's full backlog (Linux) before it is tried again.</summary>
    internal static readonly TimeSpan ConnectAttemptWait = TimeSpan.FromMilliseconds(10);

    private Socket Connect(bool bounded)
    {
        switch (Kind)
        {
            case SocketPathKind.Direct:
                return ConnectManaged(FullPath, bounded);
            case SocketPathKind.LinuxProcFd:
                using (var dir = OpenDirectory())
                {
                    return ConnectManaged(dir.ProcPath(Path.GetFileName(FullPath)), bounded);
                }

            default:
                // macOS refuses a connect to a full backlog at once (ECONNREFUSED); it never waits.
                return MacOSLongAddress(bind: false);
        }
    }

    /// <summary>
    /// Encodes a macOS <c>sockaddr_un</c> (XNU <c>bsd/sys/un.h</c>): <c>sun_len</c> (1 byte, the total length),
    /// <c>sun_family</c> (1 byte, AF_UNIX), then the path and a NUL.
    /// </summary>
    internal static byte[] EncodeMacOSSockaddr(string path)
    {
        var pathBytes = Encoding.UTF8.GetBytes(path);
        var total = 2 + pathBytes.Length + 1;
        if (total > 255)
        {
            throw new ArgumentException($"Socket path '{path}' is {pathBytes.Length} bytes; an oversized sockaddr_un holds at most {SandboxNameRules.MacOSLongSocketPathMaxBytes}.", nameof(path));
        }

        var address = new byte[total];
        address[0] = (byte)total;
        address[1] = LibC.AF_UNIX;
        pathBytes.CopyTo(address, 2);
        return address;
    }

    private static Socket BindManaged(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket ConnectManaged(string path, bool bounded)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (bounded)
            {
                socket.SendTimeout = (int)ConnectAttemptWait.TotalMilliseconds;
            }

            socket.Connect(new UnixDomainSocketEndPoint(path));
            if (bounded)
            {
                socket.SendTimeout = 0;
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private DirectoryHandle OpenDirectory()
    {
        var dir = Path.GetDirectoryName(FullPath)!;
        var fd = LibC.Open(dir, LibC.LinuxO_PATH | LibC.LinuxO_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open the socket folder '{dir}' for the /proc/self/fd path fallback: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        return new DirectoryHandle(fd);
    }

    private unsafe Socket MacOSLongAddress(bool bind)
    {
        var address = EncodeMacOSSockaddr(FullPath);
        var fd = LibC.Socket(LibC.AF_UNIX, LibC.SOCK_STREAM, 0);
        if (fd < 0)
        {
            throw new SocketException((int)MacOSSocketError(Marshal.GetLastPInvokeError()));
        }

        int rc;
        fixed (byte* p = address)
        {
            rc = bind ? LibC.Bind(fd, p, (uint)address.Length) : LibC.Connect(fd, p, (uint)address.Length);
        }

        if (rc != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            LibC.Close(fd);
            throw new SocketException((int)MacOSSocketError(errno));
        }

        // Socket adopts the descriptor and reads its state (bound, connected) from the kernel.
        var socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        socket.SetRawSocketOption(LibC.MacSolSocket, LibC.MacSoNoSigPipe, BitConverter.GetBytes(1));
        return socket;
    }

    /// <summary>Maps the macOS errno values this path can produce (XNU <c>sys/errno.h</c>) to <see cref="SocketError"/>.</summary>
    internal static SocketError MacOSSocketError(int errno) => errno switch
    {
        1 or 13 => SocketError.AccessDenied,          // EPERM, EACCES
        2 => SocketError.AddressNotAvailable,          // ENOENT
        48 => SocketError.AddressAlreadyInUse,         // EADDRINUSE
        61 => SocketError.ConnectionRefused,           // ECONNREFUSED
        63 => SocketError.AddressNotAvailable,         // ENAMETOOLONG
        _ => SocketError.SocketError,
    };

    private readonly struct DirectoryHandle(int fd) : IDisposable
    {
        public string ProcPath(string leaf) => $"/proc/self/fd/{fd}/{leaf}";

        public void Dispose() => LibC.Close(fd);
    }
}
