using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach.Interop;

/// <summary>Who holds a registered Mach name, as far as a look-up can tell.</summary>
internal enum MachNameHolder
{
    /// <summary>The bootstrap server has no such name.</summary>
    None,

    /// <summary>The name is registered but its port is dead: the holder exited and launchd has not caught up.</summary>
    Exited,

    /// <summary>The name resolves to a live port.</summary>
    Live,

    /// <summary>The look-up itself was refused (App Sandbox).</summary>
    Denied,

    /// <summary>The look-up failed otherwise.</summary>
    Unknown,
}

/// <summary>
/// The port-right bookkeeping of the Mach transport, one place for every <c>mach_port_*</c>, <c>mach_msg</c> and
/// <c>bootstrap_*</c> call so that rights and out-of-line memory are released the same way on every path.
/// </summary>
[SupportedOSPlatform("macos")]
internal static unsafe class MachPorts
{
    private const int ReceiveOptions = MACH_RCV_MSG | MACH_RCV_TIMEOUT;

    private static readonly int s_trailerOptions =
        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT);

    /// <summary>A new receive right whose queue holds up to <paramref name="queueLimit"/> messages.</summary>
    /// <exception cref="IOException">The kernel refused (out of port names or memory).</exception>
    internal static uint AllocateReceivePort(int queueLimit)
    {
        uint port;
        var kr = MachNative.mach_port_allocate(MachNative.TaskSelf, MACH_PORT_RIGHT_RECEIVE, &port);
        if (kr != KERN_SUCCESS)
        {
            throw new IOException($"mach_port_allocate(MACH_PORT_RIGHT_RECEIVE) failed with {MachErrors.Describe(kr)}.");
        }

        kr = SetQueueLimit(port, queueLimit);
        if (kr != KERN_SUCCESS)
        {
            DestroyReceiveRight(port);
            throw new IOException($"mach_port_set_attributes(MACH_PORT_LIMITS_INFO, {queueLimit}) failed with {MachErrors.Describe(kr)}.");
        }

        return port;
    }

    /// <summary>Sets how many messages the port queues (<c>mpl_qlimit</c>); the default of 5 starves a byte stream.</summary>
    internal static int SetQueueLimit(uint port, int queueLimit)
    {
        var limits = new MachPortLimits { QueueLimit = (uint)queueLimit };
        return MachNative.mach_port_set_attributes(MachNative.TaskSelf, port, MACH_PORT_LIMITS_INFO, (int*)&limits, MACH_PORT_LIMITS_INFO_COUNT);
    }

    /// <summary>Destroys a receive right: senders' rights become dead names and queued messages are destroyed by the kernel.</summary>
    internal static void DestroyReceiveRight(uint port)
    {
        if (MACH_PORT_VALID(port))
        {
            _ = MachNative.mach_port_mod_refs(MachNative.TaskSelf, port, MACH_PORT_RIGHT_RECEIVE, -1);
        }
    }

    /// <summary>Drops one user reference to a send right or dead name.</summary>
    internal static void ReleaseSendRight(uint name)
    {
        if (MACH_PORT_VALID(name))
        {
            _ = MachNative.mach_port_deallocate(MachNative.TaskSelf, name);
        }
    }

    /// <summary>
    /// Asks for <c>MACH_NOTIFY_NO_SENDERS</c> on <paramref name="port"/>, delivered to the port itself, once the
    /// last send right to it goes away. The make-send count is still 0 here, so a sync of 1 arms the request
    /// instead of firing it at once (<c>ipc_port_nsrequest</c>, osfmk/ipc/ipc_port.c).
    /// </summary>
    internal static int RequestNoSenders(uint port) => RequestNotification(port, MACH_NOTIFY_NO_SENDERS, sync: 1, port);

    /// <summary>
    /// Asks for <c>MACH_NOTIFY_DEAD_NAME</c> on the send right <paramref name="name"/>, delivered to
    /// <paramref name="notifyPort"/>. <c>KERN_INVALID_ARGUMENT</c> means the name is already dead.
    /// </summary>
    internal static int RequestDeadName(uint name, uint notifyPort) => RequestNotification(name, MACH_NOTIFY_DEAD_NAME, sync: 0, notifyPort);

    /// <summary>True when <paramref name="name"/> is a dead name (its port was destroyed).</summary>
    internal static bool IsDeadName(uint name)
    {
        if (name == MACH_PORT_DEAD)
        {
            return true;
        }

        uint type;
        return MachNative.mach_port_type(MachNative.TaskSelf, name, &type) != KERN_SUCCESS || (type & MACH_PORT_TYPE_DEAD_NAME) != 0;
    }

    /// <summary>Sends the message in <paramref name="message"/> (its <c>msgh_size</c> bytes), waiting at most <paramref name="timeoutMs"/> for queue space.</summary>
    /// <remarks>
    /// On <c>MACH_SEND_TIMED_OUT</c> the kernel hands the message back in the same buffer (a pseudo-receive:
    /// the destination right comes back as MOVE_SEND, out-of-line memory as a new region with its deallocate
    /// flag set), so the same buffer can be sent again with no right or byte lost or leaked; if it is not sent
    /// again it must be passed to <see cref="DestroyReturned"/>.
    /// </remarks>
    internal static int Send(byte* message, uint timeoutMs)
    {
        var size = ((MachMessageHeader*)message)->Size;
        return MachNative.mach_msg(message, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, timeoutMs, MACH_PORT_NULL);
    }

    /// <summary>Receives one message with the audit trailer, waiting at most <paramref name="timeoutMs"/>.</summary>
    internal static int Receive(byte* buffer, int capacity, uint port, uint timeoutMs) =>
        MachNative.mach_msg(buffer, ReceiveOptions | s_trailerOptions, 0, (uint)capacity, port, timeoutMs, MACH_PORT_NULL);

    /// <summary>Releases every right and region a received message carries.</summary>
    internal static void DestroyReceived(byte* message, int capacity)
    {
        MachMessageCodec.PrepareForDestroy(new Span<byte>(message, capacity));
        MachNative.mach_msg_destroy(message);
    }

    /// <summary>
    /// Releases what a message that failed to send still holds. A message the kernel handed back holds an extra
    /// send right for its destination and copies of its regions (deallocate set); one it never took still points at
    /// the sender's own buffers (deallocate clear), which <c>mach_msg_destroy</c> then leaves alone, as it must.
    /// So unlike <see cref="DestroyReceived"/> the deallocate flags are taken as they are.
    /// </summary>
    internal static void DestroyReturned(byte* message) => MachNative.mach_msg_destroy(message);

    /// <summary>Unmaps an out-of-line region the kernel mapped into this process on receipt.</summary>
    internal static void ReleaseOutOfLine(ulong address, int size)
    {
        if (address != 0 && size > 0)
        {
            _ = MachNative.vm_deallocate(MachNative.TaskSelf, (nuint)address, (nuint)size);
        }
    }

    /// <summary>
    /// Destroys a receive right after emptying its queue, so that a dead-name notification still queued for
    /// <paramref name="notifiedName"/> gives back the user reference it carries (which the kernel would not), and
    /// everything else queued is destroyed with its rights and memory.
    /// </summary>
    internal static void DrainAndDestroyReceiveRight(uint port, uint notifiedName)
    {
        if (!MACH_PORT_VALID(port))
        {
            return;
        }

        var buffer = (byte*)NativeMemory.AlignedAlloc(MachMessageCodec.ReceiveBufferSize, 16);
        try
        {
            // Bounded: the queue holds at most MACH_PORT_QLIMIT_MAX messages plus notifications.
            for (var i = 0; i < MACH_PORT_QLIMIT_MAX + 16; i++)
            {
                var kr = Receive(buffer, MachMessageCodec.ReceiveBufferSize, port, MACH_MSG_TIMEOUT_NONE);
                if (kr == MACH_RCV_TOO_LARGE)
                {
                    continue;
                }

                if (kr != MACH_MSG_SUCCESS)
                {
                    break;
                }

                var message = MachMessageCodec.Decode(new ReadOnlySpan<byte>(buffer, MachMessageCodec.ReceiveBufferSize));
                if (message.IsValid && message.Kind == MachMessageKind.DeadName && message.Port == notifiedName)
                {
                    ReleaseSendRight(message.Port);
                }
                else
                {
                    DestroyReceived(buffer, MachMessageCodec.ReceiveBufferSize);
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
            DestroyReceiveRight(port);
        }
    }

    /// <summary><c>bootstrap_check_in</c>: on success, the receive right for the name.</summary>
    internal static int CheckIn(string serviceName, out uint port)
    {
        byte* name = stackalloc byte[BOOTSTRAP_MAX_NAME_LEN];
        EncodeName(serviceName, new Span<byte>(name, BOOTSTRAP_MAX_NAME_LEN));
        uint received = MACH_PORT_NULL;
        var kr = MachNative.bootstrap_check_in(MachNative.BootstrapPort, name, &received);
        port = kr == KERN_SUCCESS ? received : MACH_PORT_NULL;
        return kr;
    }

    /// <summary><c>bootstrap_look_up</c>: on success, a send right to the name's port (possibly a dead name).</summary>
    internal static int LookUp(string serviceName, out uint port)
    {
        byte* name = stackalloc byte[BOOTSTRAP_MAX_NAME_LEN];
        EncodeName(serviceName, new Span<byte>(name, BOOTSTRAP_MAX_NAME_LEN));
        uint received = MACH_PORT_NULL;
        var kr = MachNative.bootstrap_look_up(MachNative.BootstrapPort, name, &received);
        port = kr == KERN_SUCCESS ? received : MACH_PORT_NULL;
        return kr;
    }

    /// <summary>Looks the name up to tell a live holder from one that has exited; releases what the look-up returned.</summary>
    internal static MachNameHolder ProbeHolder(string serviceName)
    {
        var kr = LookUp(serviceName, out var port);
        switch (kr)
        {
            case KERN_SUCCESS:
                var dead = !MACH_PORT_VALID(port) || IsDeadName(port);
                ReleaseSendRight(port);
                return dead ? MachNameHolder.Exited : MachNameHolder.Live;
            case BOOTSTRAP_UNKNOWN_SERVICE:
                return MachNameHolder.None;
            case BOOTSTRAP_NOT_PRIVILEGED:
                return MachNameHolder.Denied;
            default:
                return MachNameHolder.Unknown;
        }
    }

    private static int RequestNotification(uint name, int notification, uint sync, uint notifyPort)
    {
        uint previous = MACH_PORT_NULL;
        var kr = MachNative.mach_port_request_notification(MachNative.TaskSelf, name, notification, sync, notifyPort, MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);

        // A replaced request hands back its send-once right, which would otherwise leak.
        ReleaseSendRight(previous);
        return kr;
    }

    /// <summary>
    /// Writes the NUL-terminated name into a zeroed <c>name_t</c>-sized buffer: the stubs may read all 128 bytes.
    /// Names are checked to be at most 127 bytes before they get here.
    /// </summary>
    private static void EncodeName(string serviceName, Span<byte> name)
    {
        name.Clear();
        if (Encoding.UTF8.GetByteCount(serviceName) > BOOTSTRAP_MAX_NAME_LEN - 1)
        {
            throw new ArgumentException($"The Mach name '{serviceName}' is longer than {BOOTSTRAP_MAX_NAME_LEN - 1} bytes.", nameof(serviceName));
        }

        Encoding.UTF8.GetBytes(serviceName, name);
    }
}
