using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>The doorbell over the companion socket, where no shared-address wait exists.</summary>
internal sealed partial class SharedMemoryConnection
{
    private const int DataDoorbell = 1;
    private const int SpaceDoorbell = 2;

    private readonly Lock _doorbellLock = new();
    private int _unsentDoorbells;
    private bool _doorbellFlushing;

    /// <summary>
    /// Sends a doorbell byte without ever waiting: the peer decides how fast its companion socket drains, and a
    /// peer that keeps its waiter word set and never reads would otherwise hold whatever thread published to the
    /// ring. While one flush is unfinished, later doorbells are folded into at most one byte of each kind, sent
    /// when it finishes: a doorbell only says "look at the ring", so one of each kind wakes the peer as well as many.
    /// </summary>
    private void RingDoorbell(byte kind)
    {
        lock (_doorbellLock)
        {
            _unsentDoorbells |= kind == (byte)WakeKind.Data ? DataDoorbell : SpaceDoorbell;
            if (!_doorbellFlushing)
            {
                SendDoorbellsLocked();
            }
        }
    }

    private void SendDoorbellsLocked()
    {
        try
        {
            var output = _companion.Transport.Output;
            while (_unsentDoorbells != 0)
            {
                var kinds = _unsentDoorbells;
                _unsentDoorbells = 0;
                var span = output.GetSpan(2);
                var count = 0;
                if ((kinds & DataDoorbell) != 0)
                {
                    span[count++] = (byte)WakeKind.Data;
                }

                if ((kinds & SpaceDoorbell) != 0)
                {
                    span[count++] = (byte)WakeKind.Space;
                }

                output.Advance(count);
                var flush = output.FlushAsync();
                if (!flush.IsCompleted)
                {
                    _doorbellFlushing = true;
                    _ = FinishDoorbellFlushAsync(flush);
                    return;
                }

                if (flush.Result.IsCompleted || flush.Result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException)
        {
            // The peer is gone; the monitor reports it.
        }
    }

    private async Task FinishDoorbellFlushAsync(ValueTask<FlushResult> flush)
    {
        try
        {
            var result = await flush.ConfigureAwait(false);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException or OperationCanceledException)
        {
            // The peer is gone; the monitor reports it. Doorbells stay folded: there is nobody to wake.
            return;
        }

        lock (_doorbellLock)
        {
            _doorbellFlushing = false;
            SendDoorbellsLocked();
        }
    }
}
