using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// Both sides of setting up a connection's port pair.
/// </summary>
/// <remarks>
/// <para>
/// Client: look the name up; allocate a receive port R and arm a no-senders notification on it; send Connect
/// (a send right made from R) to the service port; wait on R for ConnectReply (a send right to the listener's
/// per-connection port P), pinning the sender's audit token from the reply's trailer; arm a dead-name
/// notification on P, delivered to R.
/// </para>
/// <para>
/// Listener: allocate P with a no-senders notification; arm a dead-name notification on the client's port,
/// delivered to P; send ConnectReply (a send right made from P); pin the client's audit token from the
/// Connect's trailer.
/// </para>
/// <para>
/// If the listener dies or drops the request before answering, R loses its only sender and the client hears
/// about it at once from the no-senders notification instead of waiting for its timeout.
/// </para>
/// </remarks>
[SupportedOSPlatform("macos")]
internal static unsafe class MachHandshake
{
    private const uint ReplyPollMilliseconds = 100;

    internal static MachConnection Connect(MachTransport transport, MachEndPoint endPoint, MachTransportOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var group = transport.Container.GroupId;
        var deadline = Stopwatch.GetTimestamp() + (long)(options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
        var kr = MachPorts.LookUp(endPoint.ServiceName, out var servicePort);
        if (kr != MachAbi.KERN_SUCCESS)
        {
            throw MachErrors.ForLookUp(kr, endPoint, group);
        }

        var receivePort = MachAbi.MACH_PORT_NULL;
        try
        {
            if (!MachAbi.MACH_PORT_VALID(servicePort) || MachPorts.IsDeadName(servicePort))
            {
                throw MachErrors.HolderExited(endPoint);
            }

            receivePort = MachPorts.AllocateReceivePort(options.QueueLimit);
            Check(MachPorts.RequestNoSenders(receivePort), "mach_port_request_notification(MACH_NOTIFY_NO_SENDERS)");
            SendConnect(servicePort, receivePort, endPoint, options, deadline);
        }
        catch
        {
            MachPorts.DrainAndDestroyReceiveRight(receivePort, MachAbi.MACH_PORT_NULL);
            throw;
        }
        finally
        {
            MachPorts.ReleaseSendRight(servicePort);
        }

        var peerPort = MachAbi.MACH_PORT_NULL;
        try
        {
            peerPort = AwaitReply(receivePort, endPoint, options, deadline, out var listener, cancellationToken);
            if (listener.EffectiveUserId != transport.OwnUserId)
            {
                throw new UnauthorizedAccessException($"The listener at {endPoint} runs as uid {listener.EffectiveUserId} (pid {listener.ProcessId}), not as this process's uid {transport.OwnUserId}; Sandgrain connects only to processes of the same user.");
            }

            kr = MachPorts.RequestDeadName(peerPort, receivePort);
            if (kr != MachAbi.KERN_SUCCESS)
            {
                throw new ConnectionResetException($"The listener at {endPoint} accepted the connection and went away at once ({MachErrors.Describe(kr)}).");
            }

            var connection = new MachConnection(receivePort, peerPort, listener, endPoint.ToString(), local: null, remote: endPoint, options, logger);
            connection.Start();
            return connection;
        }
        catch
        {
            MachPorts.ReleaseSendRight(peerPort);
            MachPorts.DrainAndDestroyReceiveRight(receivePort, peerPort);
            throw;
        }
    }

    /// <summary>The listener's side, for a valid Connect from a client of the same user; null when the client is already gone.</summary>
    internal static MachConnection? Accept(uint clientPort, AuditToken client, MachEndPoint endPoint, MachTransportOptions options, ILogger logger)
    {
        var connectionPort = MachAbi.MACH_PORT_NULL;
        try
        {
            connectionPort = MachPorts.AllocateReceivePort(options.QueueLimit);
            Check(MachPorts.RequestNoSenders(connectionPort), "mach_port_request_notification(MACH_NOTIFY_NO_SENDERS)");
            if (MachPorts.RequestDeadName(clientPort, connectionPort) != MachAbi.KERN_SUCCESS || !SendReply(clientPort, connectionPort))
            {
                // The client died between its request and our answer.
                MachPorts.ReleaseSendRight(clientPort);
                MachPorts.DrainAndDestroyReceiveRight(connectionPort, clientPort);
                return null;
            }

            var connection = new MachConnection(connectionPort, clientPort, client, endPoint.ToString(), local: endPoint, remote: null, options, logger);
            connection.Start();
            return connection;
        }
        catch
        {
            MachPorts.ReleaseSendRight(clientPort);
            MachPorts.DrainAndDestroyReceiveRight(connectionPort, clientPort);
            throw;
        }
    }

    private static void SendConnect(uint servicePort, uint receivePort, MachEndPoint endPoint, MachTransportOptions options, long deadline)
    {
        byte* message = stackalloc byte[MachMessageCodec.HandshakeSize];
        _ = MachMessageCodec.EncodeConnect(new Span<byte>(message, MachMessageCodec.HandshakeSize), servicePort, receivePort);

        // The service port's queue is the listener's backlog: wait for room, up to the connect deadline.
        var kr = MachPorts.Send(message, RemainingMilliseconds(deadline));
        if (kr == MachAbi.MACH_MSG_SUCCESS)
        {
            return;
        }

        MachPorts.DestroyReturned(message);
        Exception error = kr switch
        {
            MachAbi.MACH_SEND_INVALID_DEST => MachErrors.HolderExited(endPoint),
            MachAbi.MACH_SEND_TIMED_OUT => new TimeoutException($"{endPoint} did not take the connection request within {options.ConnectTimeout} (MachTransportOptions.ConnectTimeout): its queue of pending connections stayed full."),
            _ => new IOException($"Sending the connection request to {endPoint} failed with {MachErrors.Describe(kr)}."),
        };
        throw error;
    }

    /// <summary>Sends ConnectReply without waiting: the client's port is new, so its queue is empty unless the client misbehaves.</summary>
    private static bool SendReply(uint clientPort, uint connectionPort)
    {
        byte* message = stackalloc byte[MachMessageCodec.HandshakeSize];
        _ = MachMessageCodec.EncodeConnectReply(new Span<byte>(message, MachMessageCodec.HandshakeSize), clientPort, connectionPort);
        if (MachPorts.Send(message, MachAbi.MACH_MSG_TIMEOUT_NONE) == MachAbi.MACH_MSG_SUCCESS)
        {
            return true;
        }

        MachPorts.DestroyReturned(message);
        return false;
    }

    /// <summary>Waits on the client's receive port for the listener's answer; returns the send right it carries.</summary>
    private static uint AwaitReply(uint receivePort, MachEndPoint endPoint, MachTransportOptions options, long deadline, out AuditToken listener, CancellationToken cancellationToken)
    {
        var buffer = (byte*)NativeMemory.AlignedAlloc(MachMessageCodec.SmallReceiveBufferSize, 16);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var remaining = RemainingMilliseconds(deadline);
                if (remaining == 0)
                {
                    throw new TimeoutException($"{endPoint} did not answer the connection request within {options.ConnectTimeout} (MachTransportOptions.ConnectTimeout).");
                }

                var kr = MachPorts.Receive(buffer, MachMessageCodec.SmallReceiveBufferSize, receivePort, Math.Min(remaining, ReplyPollMilliseconds));
                if (kr is MachAbi.MACH_RCV_TIMED_OUT or MachAbi.MACH_RCV_INTERRUPTED or MachAbi.MACH_RCV_TOO_LARGE)
                {
                    continue;
                }

                if (kr != MachAbi.MACH_MSG_SUCCESS)
                {
                    throw new IOException($"Waiting for {endPoint} to answer the connection request failed with {MachErrors.Describe(kr)}.");
                }

                var reply = MachMessageCodec.Decode(new ReadOnlySpan<byte>(buffer, MachMessageCodec.SmallReceiveBufferSize));
                if (reply is { IsValid: true, Kind: MachMessageKind.ConnectReply })
                {
                    listener = reply.Sender;
                    return reply.Port;
                }

                MachPorts.DestroyReceived(buffer, MachMessageCodec.SmallReceiveBufferSize);
                if (reply is { IsValid: true, Kind: MachMessageKind.ConnectRefused })
                {
                    throw Refused(endPoint, reply);
                }

                if (reply is { IsValid: true, Kind: MachMessageKind.NoSenders })
                {
                    throw new EndpointNotFoundException(endPoint.ToString(), $"Nothing listens at {endPoint}: the listener closed before it answered the connection request.");
                }

                if (reply is { Status: MachMessageStatus.UnsupportedVersion, Kind: MachMessageKind.ConnectReply })
                {
                    throw VersionMismatch(endPoint, reply.ProtocolVersion);
                }

                // Anything else (a wake-up, a stray notification, a malformed message) was destroyed; keep waiting.
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static Exception Refused(MachEndPoint endPoint, MachReceivedMessage refusal) => refusal.Refusal switch
    {
        MachRefusal.OtherUser => new UnauthorizedAccessException($"{endPoint} refused the connection: it runs as another user, and Sandgrain connects only processes of the same user."),
        MachRefusal.UnsupportedVersion => VersionMismatch(endPoint, refusal.ProtocolVersion),
        _ => new IOException($"{endPoint} refused the connection (reason {(uint)refusal.Refusal})."),
    };

    private static IOException VersionMismatch(MachEndPoint endPoint, uint peerVersion) =>
        new($"{endPoint} speaks Sandgrain Mach protocol version {peerVersion}; this process speaks {MachMessageCodec.ProtocolVersion}. Run the same Sandgrain version in both processes.");

    private static uint RemainingMilliseconds(long deadline)
    {
        var ticks = deadline - Stopwatch.GetTimestamp();
        if (ticks <= 0)
        {
            return 0;
        }

        return (uint)Math.Min(int.MaxValue, Math.Max(1, ticks * 1000 / Stopwatch.Frequency));
    }

    private static void Check(int kr, string operation)
    {
        if (kr != MachAbi.KERN_SUCCESS)
        {
            throw new IOException($"{operation} failed with {MachErrors.Describe(kr)}.");
        }
    }
}
