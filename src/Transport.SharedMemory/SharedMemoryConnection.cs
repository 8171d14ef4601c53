using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// A connection over two rings in a shared segment, exposed as a duplex pipe. A receive thread moves bytes
/// from the incoming ring into the input pipe (spinning, then parking); sends copy from the output pipe into
/// the outgoing ring on the writer's thread. The companion socket is the liveness signal (and the doorbell
/// where no shared-address wait exists).
/// </summary>
/// <remarks>
/// End of stream: completing the output marks the outgoing ring closed; the peer reads to the end. A disposal does
/// the same after sending what is queued; an abort does not. When the companion socket ends without that mark the
/// peer died or aborted: what it had published is still delivered, then the input ends, further flushes report the
/// output completed, <see cref="BaseConnectionContext.ConnectionClosed"/> fires and <see cref="IConnectionEndFeature.PeerLost"/> is true.
/// A segment whose positions are impossible closes the connection with an error naming the value.
/// </remarks>
internal sealed partial class SharedMemoryConnection : PipeConnection
{
    private const int ParkTimeoutMs = 1000;
    private const int MaxCopyChunk = 256 * 1024;

    private readonly ConnectionContext _companion;
    private readonly Segment _segment;
    private readonly RingProducer _producer;
    private readonly RingConsumer _consumer;
    private readonly Parking _parking;
    private readonly ILogger _logger;
    private readonly string _address;
    private readonly long _spinTicks;
    private readonly int _maxReadBatch;
    private Task _monitoring = Task.CompletedTask;
    private Exception? _shutdownReason;
    private Exception? _peerGoneReason;

    internal SharedMemoryConnection(ConnectionContext companion, Segment segment, bool isClient, WakeMechanism mechanism, string address, SharedMemoryTransportOptions options, ILogger logger)
        : base(
            "shm",
            companion.Features.Get<IPeerIdentityFeature>(),
            isClient ? null : companion.LocalEndPoint,
            isClient ? companion.RemoteEndPoint : null,
            options.MaxReadBufferSize,
            options.MaxWriteBufferSize,
            inlineReads: true,
            options.CloseTimeout)
    {
        _companion = companion;
        _segment = segment;
        _logger = logger;
        _address = address;
        _spinTicks = (long)(options.SpinDuration.TotalSeconds * Stopwatch.Frequency);
        _maxReadBatch = options.MaxReadBufferSize;
        _parking = Parking.Create(mechanism, RingDoorbell);
        _producer = new RingProducer(segment.Ring(isClient ? 0 : 1), _parking);
        _consumer = new RingConsumer(segment.Ring(isClient ? 1 : 0), _parking);
        SharedMemoryLog.Connected(logger, ConnectionId, address, mechanism, segment.Capacity);
    }

    internal WakeMechanism Mechanism => _parking.Mechanism;

    /// <summary>The mapped segment, for tests that play a hostile peer.</summary>
    internal Segment Segment => _segment;

    protected override string ReceiveThreadName => "sandgrain-shm-recv";

    protected override void OnStarted() => _monitoring = MonitorCompanionAsync();

    protected override void Stop(Exception reason) => Shutdown(reason);

    protected override void OnDrainAbandoned(TimeSpan closeTimeout) => SharedMemoryLog.DrainAbandoned(_logger, ConnectionId, _address, closeTimeout.TotalMilliseconds);

    protected override async ValueTask ReleaseResourcesAsync()
    {
        await _monitoring.ConfigureAwait(false);
        await _companion.DisposeAsync().ConfigureAwait(false);

        // Unmap only after every thread that touches the rings has finished.
        _segment.Dispose();
    }

    private void Shutdown(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _shutdownReason, reason, null) is not null)
        {
            return;
        }

        WakeLocalThreads();
        _companion.Abort();
        Output.Reader.CancelPendingRead();
        Input.Writer.CancelPendingFlush();
        _ = SignalClosed(reason.Message);
    }

    private void PeerGone(Exception reason, bool lost)
    {
        if (Volatile.Read(ref _shutdownReason) is not null || Volatile.Read(ref _peerGoneReason) is not null)
        {
            return;
        }

        // Recorded before the receive thread can see the peer gone and end the input, so a reader that sees the end
        // finds why (the first of two racing calls records it).
        _ = SignalClosed(reason.Message, lost);
        if (Interlocked.CompareExchange(ref _peerGoneReason, reason, null) is not null)
        {
            return;
        }

        WakeLocalThreads();
        Output.Reader.CancelPendingRead();
    }

    private unsafe void WakeLocalThreads() => _parking.WakeLocal(_consumer.Ring.DataWaiter, _producer.Ring.SpaceWaiter);

    protected override void ReceiveLoop(int generation)
    {
        Exception? error = null;
        var writer = Input.Writer;
        var replaced = false;
        try
        {
            while (true)
            {
                var available = WaitForData();
                if (available <= 0)
                {
                    break;
                }

                // At most MaxReadBufferSize per flush, so that the input pipe holds no more than its limit whatever
                // ring size the peer asked for; the rest stays in the ring until the application has read.
                var batch = Math.Min(available, _maxReadBatch);
                while (batch > 0)
                {
                    var memory = writer.GetMemory(Math.Min(batch, MaxCopyChunk));
                    var copied = _consumer.Read(memory.Span, batch);
                    writer.Advance(copied);
                    batch -= copied;
                }

                if (!FlushInput(generation, out var result))
                {
                    replaced = true;
                    return;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            // A peer that went without its close mark ends the input cleanly all the same, after what it published:
            // the loss is reported by IConnectionEndFeature and ConnectionClosed, not by a read that throws.
        }
        catch (InvalidDataException e)
        {
            SharedMemoryLog.SegmentCorrupt(_logger, ConnectionId, _address, e.Message);
            error = new ConnectionAbortedException(e.Message, e);
            Shutdown(error);
        }
        finally
        {
            if (!replaced)
            {
                if (error is null && Volatile.Read(ref _shutdownReason) is ConnectionAbortedException aborted)
                {
                    error = aborted;
                }

                writer.Complete(error);
                ReceiveEnded();
            }
        }
    }

    /// <summary>Bytes available to read; 0 at the end of the stream; -1 when the connection is shut down.</summary>
    private unsafe int WaitForData()
    {
        var available = _consumer.Available();
        if (available > 0)
        {
            return available;
        }

        var cpu = SpinPolicy.CurrentCpu();
        Volatile.Write(ref *_consumer.Ring.ConsumerCpu, cpu);
        var peerCpu = Volatile.Read(ref *_producer.Ring.ConsumerCpu);
        if (_spinTicks > 0 && SpinPolicy.TryBegin())
        {
            try
            {
                var deadline = Stopwatch.GetTimestamp() + _spinTicks;
                var spins = 0;
                do
                {
                    SpinPolicy.SpinOnce(ref spins, cpu, peerCpu);
                    available = _consumer.Available();
                    if (available > 0)
                    {
                        return available;
                    }
                }
                while (Stopwatch.GetTimestamp() < deadline && !_consumer.WriterClosed && Volatile.Read(ref _shutdownReason) is null);
            }
            finally
            {
                SpinPolicy.End();
            }
        }

        while (true)
        {
            _consumer.ArmDataWaiter();
            available = _consumer.Available();
            if (available > 0)
            {
                _consumer.DisarmDataWaiter();
                return available;
            }

            if (_consumer.WriterClosed)
            {
                // Everything published before the close mark is visible now.
                _consumer.DisarmDataWaiter();
                return _consumer.Available();
            }

            if (Volatile.Read(ref _shutdownReason) is not null)
            {
                _consumer.DisarmDataWaiter();
                return -1;
            }

            if (Volatile.Read(ref _peerGoneReason) is not null)
            {
                _consumer.DisarmDataWaiter();
                return _consumer.Available();
            }

            _consumer.ParkForData(ParkTimeoutMs);
        }
    }

    protected override async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = Output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                foreach (var segment in result.Buffer)
                {
                    await WriteAsync(segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    _producer.Close();
                    break;
                }
            }
        }
        catch (InvalidDataException e)
        {
            SharedMemoryLog.SegmentCorrupt(_logger, ConnectionId, _address, e.Message);
            error = new ConnectionAbortedException(e.Message, e);
            Shutdown(error);
        }
        catch (OperationCanceledException)
        {
            // Stopped below.
        }
        finally
        {
            // Only a corrupt segment completes the output with an error; a stop or a peer that went is reported by
            // ConnectionClosed and IConnectionEndFeature, and the application's flushes report the end.
            reader.Complete(error);
            SendEnded();
        }
    }

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> memory)
    {
        while (!memory.IsEmpty)
        {
            ThrowIfStopped();
            var written = _producer.Write(memory.Span);
            if (written > 0)
            {
                _producer.Publish();
                ReportSendProgress();
                memory = memory[written..];
                continue;
            }

            if (!SpinForSpace())
            {
                // Park on a pool thread so the writer's own thread is not held while the peer is slow.
                await Task.Run(WaitForSpace).ConfigureAwait(false);
            }
        }
    }

    private unsafe bool SpinForSpace()
    {
        if (_spinTicks <= 0 || !SpinPolicy.TryBegin())
        {
            return false;
        }

        try
        {
            var cpu = SpinPolicy.CurrentCpu();
            var peerCpu = Volatile.Read(ref *_producer.Ring.ConsumerCpu);
            var deadline = Stopwatch.GetTimestamp() + _spinTicks;
            var spins = 0;
            do
            {
                SpinPolicy.SpinOnce(ref spins, cpu, peerCpu);
                if (_producer.Free() > 0)
                {
                    return true;
                }
            }
            while (Stopwatch.GetTimestamp() < deadline);
            return false;
        }
        finally
        {
            SpinPolicy.End();
        }
    }

    private void WaitForSpace()
    {
        while (true)
        {
            _producer.ArmSpaceWaiter();
            if (_producer.Free() > 0)
            {
                _producer.DisarmSpaceWaiter();
                return;
            }

            if (Volatile.Read(ref _shutdownReason) is not null || Volatile.Read(ref _peerGoneReason) is not null)
            {
                _producer.DisarmSpaceWaiter();
                ThrowIfStopped();
            }

            _producer.ParkForSpace(ParkTimeoutMs);
        }
    }

    private void ThrowIfStopped()
    {
        if ((Volatile.Read(ref _shutdownReason) ?? Volatile.Read(ref _peerGoneReason)) is not null)
        {
            throw new OperationCanceledException();
        }
    }

    private async Task MonitorCompanionAsync()
    {
        var input = _companion.Transport.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    foreach (var b in segment.Span)
                    {
                        _parking.OnDoorbell(b);
                    }
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException)
        {
            // The companion ended; handled below.
        }

        var closed = _consumer.WriterClosed;
        PeerGone(
            new ConnectionResetException(closed
                ? $"The peer at {_address} closed the connection."
                : $"The peer at {_address} is gone: its companion socket closed without ending the stream (the process exited or was killed, or it aborted the connection)."),
            lost: !closed);
    }
}
