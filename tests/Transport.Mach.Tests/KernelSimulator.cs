using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;
using static Sandgrain.Transport.Mach.Interop.MachAbi;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// Does to a sent message what the kernel does on delivery, so the codec can be tested without Mach:
/// the destination right becomes the receiving port (MACH_MSGH_BITS_LOCAL), the reply right (none here)
/// becomes msgh_remote_port, sent dispositions become received right types (ipc_object_copyin_type,
/// osfmk/ipc/ipc_object.c), port names are renamed into the receiver's space, out-of-line regions are mapped
/// at a new address with deallocate set for virtual copies (ipc_kmsg_deflate_memory_descriptor,
/// osfmk/ipc/ipc_kmsg.c), and an audit trailer is appended at msgh_size.
/// </summary>
internal static class KernelSimulator
{
    internal const uint ReceivingPort = 0x1503;
    internal const uint TransferredName = 0x2607;
    internal const ulong MappedAddress = 0x0000_0001_2340_0000;

    internal static AuditToken Token(uint euid = 501, int pid = 4242, uint pidVersion = 7) => new()
    {
        Val0 = euid,
        Val1 = euid,
        Val2 = 20,
        Val3 = euid,
        Val4 = 20,
        Val5 = (uint)pid,
        Val6 = 100_001,
        Val7 = pidVersion,
    };

    internal static AuditToken KernelToken => default;

    internal static byte[] Deliver(ReadOnlySpan<byte> sent, AuditToken sender, int capacity = MachMessageCodec.ReceiveBufferSize)
    {
        var header = MemoryMarshal.Read<MachMessageHeader>(sent);
        var size = (int)header.Size;
        var received = new byte[capacity];
        sent[..size].CopyTo(received);

        var destination = ReceivedType(MACH_MSGH_BITS_REMOTE(header.Bits));
        var reply = ReceivedType(MACH_MSGH_BITS_LOCAL(header.Bits));
        header.Bits = MACH_MSGH_BITS_SET_PORTS(reply, destination, 0) | (header.Bits & MACH_MSGH_BITS_COMPLEX);
        header.RemotePort = header.LocalPort;
        header.LocalPort = ReceivingPort;
        MemoryMarshal.Write(received, in header);

        if ((header.Bits & MACH_MSGH_BITS_COMPLEX) != 0)
        {
            var count = MemoryMarshal.Read<MachMessageBody>(received.AsSpan(MachMsgHeaderSize)).DescriptorCount;
            var offset = MachMsgHeaderSize + MachMsgBodySize;
            for (var i = 0; i < count; i++)
            {
                var type = MemoryMarshal.Read<uint>(received.AsSpan(offset + 8)) >> 24;
                if (type == MACH_MSG_PORT_DESCRIPTOR)
                {
                    var port = MemoryMarshal.Read<MachPortDescriptor>(received.AsSpan(offset));
                    port.Name = TransferredName;
                    port.Bits = MachPortDescriptor.PackBits(ReceivedType(port.Disposition), MACH_MSG_PORT_DESCRIPTOR);
                    MemoryMarshal.Write(received.AsSpan(offset), in port);
                    offset += MachMsgPortDescriptorSize;
                }
                else
                {
                    var region = MemoryMarshal.Read<MachOutOfLineDescriptor64>(received.AsSpan(offset));
                    region.Address = MappedAddress;
                    region.Bits = MachOutOfLineDescriptor64.PackBits(region.Copy == MACH_MSG_VIRTUAL_COPY ? 1u : 0u, region.Copy, region.Type);
                    MemoryMarshal.Write(received.AsSpan(offset), in region);
                    offset += MachMsgOolDescriptor64Size;
                }
            }
        }

        WriteTrailer(received, size, sender);
        return received;
    }

    /// <summary>A kernel notification as received: header, NDR record, one 32-bit argument, trailer.</summary>
    internal static byte[] Notification(int id, uint argument, AuditToken sender, int capacity = MachMessageCodec.ReceiveBufferSize)
    {
        var size = id == MACH_NOTIFY_SEND_ONCE ? MachSendOnceNotificationSize : MachNotificationWithNameSize;
        var received = new byte[capacity];
        var notification = new MachDeadNameNotification
        {
            Header = new MachMessageHeader
            {
                Bits = MACH_MSGH_BITS_SET_PORTS(0, MACH_MSG_TYPE_PORT_SEND_ONCE, 0),
                Size = (uint)size,
                RemotePort = MACH_PORT_NULL,
                LocalPort = ReceivingPort,
                VoucherPort = MACH_PORT_NULL,
                Id = id,
            },
            NotPort = argument,
        };
        if (size == MachSendOnceNotificationSize)
        {
            MemoryMarshal.Write(received, in notification.Header);
        }
        else
        {
            MemoryMarshal.Write(received, in notification);
        }

        WriteTrailer(received, size, sender);
        return received;
    }

    internal static void WriteTrailer(byte[] received, int offset, AuditToken sender)
    {
        var trailer = new MachAuditTrailer
        {
            TrailerType = MACH_MSG_TRAILER_FORMAT_0,
            TrailerSize = MachMsgAuditTrailerSize,
            Seqno = 1,
            Sender = new MachSecurityToken { Val0 = sender.Val1, Val1 = sender.Val2 },
            Audit = sender,
        };
        MemoryMarshal.Write(received.AsSpan(offset), in trailer);
    }

    internal static MachMessageHeader Header(byte[] message) => MemoryMarshal.Read<MachMessageHeader>(message);

    internal static void SetHeader(byte[] message, MachMessageHeader header) => MemoryMarshal.Write(message, in header);

    private static uint ReceivedType(uint disposition) => disposition switch
    {
        0 => 0,
        MACH_MSG_TYPE_MOVE_RECEIVE => MACH_MSG_TYPE_PORT_RECEIVE,
        MACH_MSG_TYPE_MOVE_SEND or MACH_MSG_TYPE_COPY_SEND or MACH_MSG_TYPE_MAKE_SEND => MACH_MSG_TYPE_PORT_SEND,
        MACH_MSG_TYPE_MOVE_SEND_ONCE or MACH_MSG_TYPE_MAKE_SEND_ONCE => MACH_MSG_TYPE_PORT_SEND_ONCE,
        _ => throw new ArgumentOutOfRangeException(nameof(disposition), disposition, "not a port disposition"),
    };
}
