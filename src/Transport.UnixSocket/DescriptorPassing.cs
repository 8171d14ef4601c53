using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// Descriptors passed over a connected Unix socket with <c>SCM_RIGHTS</c> (Linux), beside the bytes they travel with.
/// A receive takes at most <see cref="MaxPerReceive"/>: the kernel installs none past the control buffer (it sets
/// <c>MSG_CTRUNC</c>), and the connection closes what it installed past its allowance at once, so a peer cannot fill
/// this process's descriptor table.
/// </summary>
internal static unsafe class DescriptorPassing
{
    /// <summary>Descriptors one receive can take; more in one message are never installed.</summary>
    internal const int MaxPerReceive = 4;

    /// <summary>Sends <paramref name="data"/> with <paramref name="descriptor"/> attached to its first byte (blocking).</summary>
    /// <exception cref="SocketException">The send failed.</exception>
    internal static void Send(Socket socket, ReadOnlySpan<byte> data, SafeHandle descriptor)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Passing descriptors over a Unix socket is implemented for Linux only.");
        }

        var control = stackalloc byte[LibC.LinuxCmsgSpace(sizeof(int))];
        new Span<byte>(control, LibC.LinuxCmsgSpace(sizeof(int))).Clear();
        var header = (LibC.LinuxCmsgHdr*)control;
        header->Length = (nuint)(LibC.LinuxCmsgHeaderSize + sizeof(int));
        header->Level = LibC.LinuxSolSocket;
        header->Type = LibC.ScmRights;

        var socketAdded = false;
        var descriptorAdded = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref socketAdded);
            descriptor.DangerousAddRef(ref descriptorAdded);
            *(int*)(control + LibC.LinuxCmsgHeaderSize) = (int)descriptor.DangerousGetHandle();
            fixed (byte* bytes = data)
            {
                var iov = new LibC.IoVec { Base = bytes, Length = (nuint)data.Length };
                var message = new LibC.LinuxMsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)LibC.LinuxCmsgSpace(sizeof(int)) };
                nint sent;
                do
                {
                    sent = LibC.SendMsg((int)socket.SafeHandle.DangerousGetHandle(), &message, LibC.SendBlockingFlags);
                }
                while (sent < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);

                if (sent < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new SocketException((int)SocketError.ConnectionReset, $"sendmsg() with a descriptor failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
                }

                // The descriptor went with the first byte; the rest of a short send is ordinary bytes.
                if (sent < data.Length)
                {
                    socket.Send(data[(int)sent..], SocketFlags.None);
                }
            }
        }
        finally
        {
            if (descriptorAdded)
            {
                descriptor.DangerousRelease();
            }

            if (socketAdded)
            {
                socket.SafeHandle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// One blocking receive into <paramref name="buffer"/>; descriptors that came with the bytes (at most
    /// <see cref="MaxPerReceive"/>) are added to <paramref name="arrived"/>, owned by the caller.
    /// </summary>
    /// <returns>The bytes received (0 at the end of the stream); <paramref name="truncated"/> when the peer passed more than one receive takes (the rest were never installed).</returns>
    /// <exception cref="SocketException">The receive failed.</exception>
    internal static int Receive(Socket socket, Span<byte> buffer, List<SafeFileHandle> arrived, out bool truncated)
    {
        truncated = false;
        var controlSize = LibC.LinuxCmsgSpace(MaxPerReceive * sizeof(int));
        var control = stackalloc byte[controlSize];
        var added = false;
        try
        {
            socket.SafeHandle.DangerousAddRef(ref added);
            nint count;
            LibC.LinuxMsgHdr message;
            fixed (byte* bytes = buffer)
            {
                var iov = new LibC.IoVec { Base = bytes, Length = (nuint)buffer.Length };
                do
                {
                    message = new LibC.LinuxMsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlSize };
                    count = LibC.RecvMsg((int)socket.SafeHandle.DangerousGetHandle(), &message, LibC.LinuxMsgCmsgCloexec);
                }
                while (count < 0 && Marshal.GetLastPInvokeError() == LibC.EINTR);
            }

            if (count < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new SocketException((int)SocketError.ConnectionReset, $"recvmsg() failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }

            if ((message.Flags & LibC.LinuxMsgCtrunc) != 0)
            {
                // More than one receive's worth: the kernel installed none of the rest.
                truncated = true;
            }

            var offset = 0;
            while (offset + LibC.LinuxCmsgHeaderSize <= (int)message.ControlLength)
            {
                var header = (LibC.LinuxCmsgHdr*)(control + offset);
                var length = (int)header->Length;
                if (length < LibC.LinuxCmsgHeaderSize || offset + length > (int)message.ControlLength)
                {
                    break;
                }

                if (header->Level == LibC.LinuxSolSocket && header->Type == LibC.ScmRights)
                {
                    var fds = (int*)(control + offset + LibC.LinuxCmsgHeaderSize);
                    for (var i = 0; i < (length - LibC.LinuxCmsgHeaderSize) / sizeof(int); i++)
                    {
                        arrived.Add(new SafeFileHandle(fds[i], ownsHandle: true));
                    }
                }

                offset += LibC.LinuxCmsgSpace(length - LibC.LinuxCmsgHeaderSize);
            }

            return (int)count;
        }
        finally
        {
            if (added)
            {
                socket.SafeHandle.DangerousRelease();
            }
        }
    }
}
