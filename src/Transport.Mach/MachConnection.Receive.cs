using System.Buffers;
using System.IO.Pipelines;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

internal sealed partial class MachConnection
{
    /// <summary>How long one blocking receive waits before the thread looks at the shutdown state again.</summary>
    private const uint ReceivePollMilliseconds = 200;

    private enum Step
    {
        Continue,
        PeerEnded,
        Violation,
    }

    protected override unsafe void ReceiveLoop(int generation)
    {
        var buffer = AllocateBuffer(MachMessageCodec.ReceiveBufferSize);
        var writer = Input.Writer;
        var inputDone = false;
        Exception? inputError = null;
        try
        {
            while (true)
            {
                var ending = _ending;
                if (ending is { PeerGone: false })
                {
                    inputError = ending.Reason;
                    break;
                }

                // Once the peer is known to be gone, only what it queued before is left: take it without waiting.
                var timeout = ending is null ? ReceivePollMilliseconds : MachAbi.MACH_MSG_TIMEOUT_NONE;
                var kr = MachPorts.Receive(buffer, MachMessageCodec.ReceiveBufferSize, _receivePort, timeout);
                if (kr is MachAbi.MACH_RCV_TIMED_OUT or MachAbi.MACH_RCV_INTERRUPTED)
                {
                    if (ending is not null)
                    {
                        inputError = ending.Reason;
                        break;
                    }

                    continue;
                }

                if (kr == MachAbi.MACH_RCV_TOO_LARGE)
                {
                    // Nothing this transport sends is that large; the kernel has already destroyed it.
                    MachLog.MessageTooLarge(_logger, _address, MachMessageCodec.ReceiveBufferSize);
                    continue;
                }

                if (kr != MachAbi.MACH_MSG_SUCCESS)
                {
                    inputError = PeerGoneError($"could not be received from ({MachErrors.Describe(kr)})");
                    PeerGone(inputError);
                    break;
                }

                var step = Handle(buffer, writer, ref inputDone, out var error);
                if (step == Step.Continue)
                {
                    continue;
                }

                inputError = error;
                if (step == Step.Violation)
                {
                    Close(error!, peerGone: false);
                }

                break;
            }
        }
        finally
        {
            FreeBuffer(buffer);
            if (!inputDone)
            {
                // A peer that went ends the input cleanly after what it sent: the loss is reported by
                // IConnectionEndFeature and ConnectionClosed, not by a read that throws.
                // (The ending names a peer loss only while no violation and no local close has replaced it.)
                var ending = _ending;
                writer.Complete(ending is { PeerGone: true } ? null : inputError ?? ending?.Reason);
            }

            LoopEnded();
        }
    }

    /// <summary>Acts on one received message; every path either consumes what the message carries or destroys it.</summary>
    private unsafe Step Handle(byte* buffer, PipeWriter writer, ref bool inputDone, out Exception? error)
    {
        error = null;
        var message = MachMessageCodec.Decode(new ReadOnlySpan<byte>(buffer, MachMessageCodec.ReceiveBufferSize));
        if (!message.IsValid)
        {
            MachLog.MalformedMessage(_logger, _address, message.MessageId, message.HasSender ? message.Sender.ProcessId : -1, message.Status);
            MachPorts.DestroyReceived(buffer, MachMessageCodec.ReceiveBufferSize);
            if (message.HasSender && message.Sender.SameAs(_peerToken))
            {
                // A frame failure is not recoverable: the byte stream would be out of step.
                error = new IOException($"The peer at {_address} sent a malformed message ({message.Status}); the connection was closed.");
                return Step.Violation;
            }

            // Not from the peer: someone else holds a send right to this port; ignore them.
            return Step.Continue;
        }

        switch (message.Kind)
        {
            case MachMessageKind.WakeUp:
            case MachMessageKind.SendOnce:
            case MachMessageKind.PortDeleted:
                return Step.Continue;
            case MachMessageKind.DeadName when message.Port == _sendPort:
                // The notification holds its own user reference to the dead name, on top of ours.
                MachPorts.ReleaseSendRight(message.Port);
                return PeerEnded(inputDone, "exited or closed the connection (its port died)", out error);
            case MachMessageKind.DeadName:
                // Only the peer's name has a dead-name request on this port; anything else is not about us.
                return Step.Continue;
            case MachMessageKind.NoSenders:
                return PeerEnded(inputDone, "exited or closed the connection (it released its send right)", out error);
        }

        if (!message.Sender.SameAs(_peerToken))
        {
            MachLog.ForeignSenderDropped(_logger, _address, message.MessageId, message.Sender.ProcessId, _peerToken.ProcessId);
            MachPorts.DestroyReceived(buffer, MachMessageCodec.ReceiveBufferSize);
            return Step.Continue;
        }

        switch (message.Kind)
        {
            case MachMessageKind.InlineData:
                Deliver(writer, new ReadOnlySpan<byte>(buffer + message.PayloadOffset, message.PayloadLength), ref inputDone);
                return Step.Continue;
            case MachMessageKind.OutOfLineData:
                try
                {
                    Deliver(writer, new ReadOnlySpan<byte>((void*)(nuint)message.OutOfLineAddress, message.OutOfLineSize), ref inputDone);
                }
                finally
                {
                    MachPorts.ReleaseOutOfLine(message.OutOfLineAddress, message.OutOfLineSize);
                }

                return Step.Continue;
            case MachMessageKind.EndOfStream:
                if (!inputDone)
                {
                    inputDone = true;
                    writer.Complete();
                }

                EndOfStreamSeen(ref _endOfStreamReceived);

                // A send that failed first may have called the peer lost; it had ended its stream, so it was not.
                PeerEndedItsStream();
                return Step.Continue;
            default:
                // A handshake on an established connection: the peer is out of step.
                MachPorts.DestroyReceived(buffer, MachMessageCodec.ReceiveBufferSize);
                error = new IOException($"The peer at {_address} sent an unexpected {message.Kind} message; the connection was closed.");
                return Step.Violation;
        }
    }

    private Step PeerEnded(bool inputDone, string how, out Exception? error)
    {
        var reset = PeerGoneError(how);
        PeerGone(reset);

        // After an end-of-stream the input already ended cleanly; otherwise the stream was cut short.
        error = inputDone ? null : reset;
        return Step.PeerEnded;
    }

    /// <summary>
    /// Copies bytes into the input pipe and waits for the application to make room: this wait is the
    /// back-pressure, since the peer's messages then pile up in the kernel queue until its sends wait.
    /// </summary>
    private static void Deliver(PipeWriter writer, ReadOnlySpan<byte> data, ref bool inputDone)
    {
        if (inputDone)
        {
            // The application stopped reading (or the peer said it had finished): nothing to deliver to.
            return;
        }

        FlushResult result;
        try
        {
            writer.Write(data);
            var flush = writer.FlushAsync();
            result = flush.IsCompleted ? flush.Result : flush.AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            // The application completed its reader with an error: it wants no more input. This thread must not die of it.
            result = new FlushResult(isCanceled: false, isCompleted: true);
        }

        if (result.IsCompleted)
        {
            inputDone = true;
            writer.Complete();
        }
    }
}
