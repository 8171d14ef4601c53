using System.Buffers;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

internal sealed partial class MachConnection
{
    /// <summary>How long one blocking send attempt waits for queue space before the shutdown state is checked again.</summary>
    private const uint SendRetryMilliseconds = 100;

    /// <summary>Room for the largest message and for what a timed-out send hands back.</summary>
    private const int SendBufferSize = MachMessageCodec.ReceiveBufferSize;

    private nint _sendBuffer;
    private nint _outOfLineBuffer;

    private enum SendOutcome
    {
        Sent,
        QueueFull,
        Stopped,
        PeerGone,
    }

    protected override async Task SendLoopAsync()
    {
        AllocateSendBuffers();
        var reader = Output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled || _ending is not null)
                {
                    break;
                }

                var buffer = result.Buffer;
                var outcome = SendOutcome.Sent;
                while (!buffer.IsEmpty && outcome == SendOutcome.Sent)
                {
                    var chunk = buffer.Slice(0, Math.Min(buffer.Length, MachMessageCodec.MaxOutOfLineSize));
                    PrepareData(chunk);
                    outcome = await SendPreparedAsync().ConfigureAwait(false);
                    if (outcome == SendOutcome.Sent)
                    {
                        buffer = buffer.Slice(chunk.End);
                        ReportSendProgress();
                    }
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (outcome != SendOutcome.Sent)
                {
                    break;
                }

                if (result.IsCompleted)
                {
                    // The application finished writing: half-close; the peer reads to its end and may go on writing.
                    PrepareEndOfStream();
                    if (await SendPreparedAsync().ConfigureAwait(false) == SendOutcome.Sent)
                    {
                        EndOfStreamSeen(ref _endOfStreamSent);
                    }

                    break;
                }
            }
        }
        finally
        {
            FreeSendBuffers();
            // Without an error: the application's flushes report the end instead of throwing (see IConnectionEndFeature).
            await reader.CompleteAsync().ConfigureAwait(false);
            LoopEnded();
        }
    }

    /// <summary>Sends the prepared message: once without waiting, then, if the peer's queue is full, on a pool thread until it fits.</summary>
    private async ValueTask<SendOutcome> SendPreparedAsync()
    {
        var outcome = TrySend(MachAbi.MACH_MSG_TIMEOUT_NONE);
        if (outcome == SendOutcome.QueueFull)
        {
            outcome = await Task.Run(SendWhenRoom).ConfigureAwait(false);
        }

        return outcome;
    }

    private SendOutcome SendWhenRoom()
    {
        while (true)
        {
            if (_ending is not null)
            {
                DiscardPending();
                return SendOutcome.Stopped;
            }

            var outcome = TrySend(SendRetryMilliseconds);
            if (outcome != SendOutcome.QueueFull)
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// One <c>mach_msg</c> send of the message in the send buffer. A timed-out send leaves the message, handed back
    /// by the kernel, in the buffer for the next attempt, so no data is lost; any other failure destroys it.
    /// </summary>
    private unsafe SendOutcome TrySend(uint timeoutMs)
    {
        var message = (byte*)_sendBuffer;
        var kr = MachPorts.Send(message, timeoutMs);
        switch (kr)
        {
            case MachAbi.MACH_MSG_SUCCESS:
                return SendOutcome.Sent;
            case MachAbi.MACH_SEND_TIMED_OUT:
            case MachAbi.MACH_SEND_INTERRUPTED:
                return SendOutcome.QueueFull;
            case MachAbi.MACH_SEND_INVALID_DEST:
                MachPorts.DestroyReturned(message);
                PeerGone(PeerGoneError("is gone (its port died while sending)"));
                return SendOutcome.PeerGone;
            default:
                MachPorts.DestroyReturned(message);
                PeerGone(PeerGoneError($"could not be sent to ({MachErrors.Describe(kr)})"));
                return SendOutcome.PeerGone;
        }
    }

    /// <summary>Releases what a timed-out send handed back (its extra send right, its copied region) when it will not be retried.</summary>
    private unsafe void DiscardPending() => MachPorts.DestroyReturned((byte*)_sendBuffer);

    /// <summary>Encodes up to <see cref="MachMessageCodec.MaxOutOfLineSize"/> bytes into the send buffer (its header records the size).</summary>
    private unsafe void PrepareData(ReadOnlySequence<byte> chunk)
    {
        var message = new Span<byte>((void*)_sendBuffer, SendBufferSize);
        if (chunk.Length <= MachMessageCodec.InlineThreshold)
        {
            _ = MachMessageCodec.EncodeInlineData(message, _sendPort, chunk);
            return;
        }

        // The kernel maps the region into the peer copy-on-write, so the staging buffer can be refilled at once.
        chunk.CopyTo(new Span<byte>((void*)_outOfLineBuffer, MachMessageCodec.MaxOutOfLineSize));
        _ = MachMessageCodec.EncodeOutOfLineData(message, _sendPort, (ulong)_outOfLineBuffer, (int)chunk.Length);
    }

    private unsafe void PrepareEndOfStream() =>
        _ = MachMessageCodec.EncodeEndOfStream(new Span<byte>((void*)_sendBuffer, SendBufferSize), _sendPort);

    private unsafe void AllocateSendBuffers()
    {
        _sendBuffer = (nint)AllocateBuffer(SendBufferSize);

        // Page-aligned, so that the kernel's copy-on-write mapping of a region covers only the region's own pages.
        _outOfLineBuffer = (nint)AllocateBuffer(MachMessageCodec.MaxOutOfLineSize, Environment.SystemPageSize);
    }

    private unsafe void FreeSendBuffers()
    {
        FreeBuffer((byte*)_sendBuffer);
        FreeBuffer((byte*)_outOfLineBuffer);
        _sendBuffer = 0;
        _outOfLineBuffer = 0;
    }
}
