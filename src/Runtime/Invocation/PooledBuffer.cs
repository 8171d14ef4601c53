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
    public static PooledBuffer Rent(int capacity = 256) => new(capacity);

    /// <summary>Copies a sequence into a new pooled buffer.</summary>
    public static PooledBuffer CopyOf(in ReadOnlySequence<byte> bytes)
    {
        var buffer = new PooledBuffer((int)Math.Max(bytes.Length, 16));
        bytes.CopyTo(buffer._array);
        buffer._written = (int)bytes.Length;
        return buffer;
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
