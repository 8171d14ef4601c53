namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// The writing end of one ring. Keeps its own position privately and publishes it with a release store;
/// reads the consumer's position from shared memory and range-checks it, because the other process is not
/// trusted to keep it sane.
/// </summary>
internal sealed unsafe class RingProducer(RingView ring, Parking parking)
{
    private readonly int _mask = ring.Capacity - 1;
    private long _position;

    internal RingView Ring => ring;

    /// <summary>Free bytes in the ring.</summary>
    /// <exception cref="InvalidDataException">The consumer position in the mapping is impossible.</exception>
    internal int Free()
    {
        var consumer = Volatile.Read(ref *ring.ConsumerPosition);
        var used = _position - consumer;
        if ((ulong)used > (ulong)ring.Capacity)
        {
            throw new InvalidDataException($"The peer's consumer position {consumer} is impossible for producer position {_position} and capacity {ring.Capacity}; the shared segment is corrupt.");
        }

        return ring.Capacity - (int)used;
    }

    /// <summary>Copies as much of <paramref name="source"/> as fits (claim and copy; not yet visible). Returns the count.</summary>
    internal int Write(ReadOnlySpan<byte> source)
    {
        var count = Math.Min(Free(), source.Length);
        if (count == 0)
        {
            return 0;
        }

        var start = (int)(_position & _mask);
        var first = Math.Min(count, ring.Capacity - start);
        source[..first].CopyTo(new Span<byte>(ring.Data + start, first));
        if (first < count)
        {
            source[first..count].CopyTo(new Span<byte>(ring.Data, count - first));
        }

        _position += count;
        return count;
    }

    /// <summary>Makes everything written visible to the consumer (store-release) and wakes it if it is parked.</summary>
    internal void Publish()
    {
        Volatile.Write(ref *ring.ProducerPosition, _position);
        WakeConsumer();
    }

    /// <summary>Marks the end of the stream: nothing more will be published.</summary>
    internal void Close()
    {
        Volatile.Write(ref *ring.WriterClosed, 1);
        WakeConsumer();
    }

    /// <summary>Publishes this side as waiting for space; the caller re-checks <see cref="Free"/> before parking.</summary>
    internal void ArmSpaceWaiter() => Interlocked.Exchange(ref *ring.SpaceWaiter, 1);

    internal void DisarmSpaceWaiter() => Interlocked.Exchange(ref *ring.SpaceWaiter, 0);

    internal void ParkForSpace(int timeoutMs) => parking.Park(ring.SpaceWaiter, WakeKind.Space, timeoutMs);

    private void WakeConsumer()
    {
        // The full fence orders our position store before the waiter load (the consumer does the mirror
        // image), so either it sees our data or we see its flag — never neither.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *ring.DataWaiter) != 0 && Interlocked.CompareExchange(ref *ring.DataWaiter, 0, 1) == 1)
        {
            parking.Unpark(ring.DataWaiter, WakeKind.Data);
        }
    }
}
