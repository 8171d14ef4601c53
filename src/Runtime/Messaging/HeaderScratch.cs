using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>
/// A frame header is encoded, handed to <see cref="FrameWriter.SendAsync"/> (which writes or copies it before it
/// returns) and is then dead: each thread keeps one buffer for that instead of renting one per frame.
/// </summary>
internal static class HeaderScratch
{
    private const int MaxKept = 4096;

    [ThreadStatic]
    private static PooledBuffer? t_free;

    /// <summary>An empty buffer: this thread's own when it is free (not taken by an encoding further up the stack).</summary>
    internal static PooledBuffer Take()
    {
        var buffer = t_free;
        if (buffer is null)
        {
            return PooledBuffer.Rent();
        }

        t_free = null;
        buffer.Reset();
        return buffer;
    }

    /// <summary>Gives the buffer back once what was written to it has been sent or copied.</summary>
    internal static void Give(PooledBuffer buffer)
    {
        if (buffer.Capacity > MaxKept || t_free is not null)
        {
            buffer.Dispose();
            return;
        }

        t_free = buffer;
    }
}
