namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// The reading end of one ring. Reads the producer's position with acquire semantics and range-checks it
/// before touching the data it claims to cover.
/// </summary>
internal sealed unsafe class RingConsumer(RingView ring, Parking parking)
{
    private readonly int _mask = ring.Capacity - 1;
    private long _position;

    internal RingView Ring => ring;

    /// <summary>Bytes published and not yet consumed.</summary>
    /// <exception cref="InvalidDataException">The producer position in the mapping is impossible.</exception>
    internal int Available()
    {
        var producer = Volatile.Read(ref *ring.ProducerPosition);
        var available = producer - _position;
        if ((ulong)available > (ulong)ring.Capacity)
        {
            throw new InvalidDataException($"The peer's producer position {producer} is impossible for consumer position {_position} and capacity {ring.Capacity}; the shared segment is corrupt.");
        }

        return (int)available;
    }

    /// <summary>True once the producer has closed the stream (check <see cref="Available"/> again after seeing it).</summary>
    internal bool WriterClosed => Volatile.Read(ref *ring.WriterClosed) != 0;

    /// <summary>Copies up to <paramref name="available"/> bytes into <paramref name="destination"/> and frees them in the ring.</summary>
    internal int Read(Span<byte> destination, int available)
    {
        var count = Math.Min(available, destination.Length);
        var start = (int)(_position & _mask);
        var first = Math.Min(count, ring.Capacity - start);
        new ReadOnlySpan<byte>(ring.Data + start, first).CopyTo(destination);
        if (first < count)
        {
            new ReadOnlySpan<byte>(ring.Data, count - first).CopyTo(destination[first..]);
        }

        _position += count;
        Volatile.Write(ref *ring.ConsumerPosition, _position);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *ring.SpaceWaiter) != 0 && Interlocked.CompareExchange(ref *ring.SpaceWaiter, 0, 1) == 1)
        {
            parking.Unpark(ring.SpaceWaiter, WakeKind.Space);
        }

        return count;
    }

    /// <summary>Publishes this side as waiting for data; the caller re-checks <see cref="Available"/> before parking.</summary>
    internal void ArmDataWaiter() => Interlocked.Exchange(ref *ring.DataWaiter, 1);

    internal void DisarmDataWaiter() => Interlocked.Exchange(ref *ring.DataWaiter, 0);

    internal void ParkForData(int timeoutMs) => parking.Park(ring.DataWaiter, WakeKind.Data, timeoutMs);
}
