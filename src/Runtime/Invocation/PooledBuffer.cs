using System.Buffers;
using System.ComponentModel;
using MessagePack;

namespace Sandgrain.Runtime.Invocation;

/// <summary>
/// A growable byte buffer over arrays rented from the shared pool: call arguments on the way out, results
/// and request bodies on the way in. Returned to the pool when disposed. Used by generated code.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class PooledBuffer : IBufferWriter<byte>, IDisposable
{
    /// <summary>A spare of this size or less is kept for its thread's next <see cref="Rent"/>; a larger one goes back to the pool.</summary>
    internal const int MaxSpareCapacity = 4096;

    // Two buffers per thread that their last owners gave back (see Recycle): the buffers of one call (arguments and
    // result) are made and finished on the same few threads, so a steady stream of calls allocates none.
    [ThreadStatic]
    private static PooledBuffer? t_spare;

    [ThreadStatic]
    private static PooledBuffer? t_secondSpare;

    private byte[] _array;
    private int _written;

    private PooledBuffer(int capacity)
    {
        _array = ArrayPool<byte>.Shared.Rent(capacity);
    }

    /// <summary>The bytes written so far.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);

    /// <summary>How many bytes were written.</summary>
    public int WrittenCount => _written;

    /// <summary>Rents a buffer.</summary>
    public static PooledBuffer Rent(int capacity = 256)
    {
        var spare = t_spare;
        if (spare is null)
        {
            return new(capacity);
        }

        t_spare = t_secondSpare;
        t_secondSpare = null;
        if (spare._array.Length < capacity)
        {
            ArrayPool<byte>.Shared.Return(spare._array);
            spare._array = ArrayPool<byte>.Shared.Rent(capacity);
        }

        return spare;
    }

    /// <summary>Copies a sequence into a new pooled buffer.</summary>
    public static PooledBuffer CopyOf(in ReadOnlySequence<byte> bytes)
    {
        var buffer = Rent((int)Math.Max(bytes.Length, 16));
        bytes.CopyTo(buffer._array);
        buffer._written = (int)bytes.Length;
        return buffer;
    }

    /// <summary>
    /// Gives back a buffer its owner has finished with: kept, with its array, for this thread's next <see cref="Rent"/>
    /// when it is small, else disposed. Only for an owner that knows nothing else refers to the buffer any more: unlike
    /// <see cref="Dispose"/>, which a stale second call cannot harm, a recycled buffer is someone else's next.
    /// </summary>
    internal void Recycle()
    {
        if (_array.Length is > 0 and <= MaxSpareCapacity && t_secondSpare is null)
        {
            _written = 0;
            t_secondSpare = t_spare;
            t_spare = this;
            return;
        }

        Dispose();
    }

    /// <summary>The bytes it can hold before it grows.</summary>
    internal int Capacity => _array.Length;

    /// <summary>Forgets what was written, keeping the array (for a buffer reused by its owner).</summary>
    internal void Reset() => _written = 0;

    /// <summary>A MessagePack writer over this buffer.</summary>
    public MessagePackWriter CreateWriter() => new(this);

    /// <inheritdoc />
    public void Advance(int count) => _written += count;

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    /// <summary>Returns the array to the pool.</summary>
    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, []);
        if (array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }

    private void Ensure(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_array.Length - _written >= sizeHint)
        {
            return;
        }

        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(_array.Length * 2, _written + sizeHint));
        _array.AsSpan(0, _written).CopyTo(grown);
        ArrayPool<byte>.Shared.Return(_array);
        _array = grown;
    }
}
