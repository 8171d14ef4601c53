using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Messaging;

/// <summary>A frame queued behind a flush in progress, with its own copy of the bytes.</summary>
internal sealed class OutgoingFrame : IDisposable
{
    private OutgoingFrame(FrameKind kind, PooledBuffer bytes, bool holdsSlot)
    {
        Kind = kind;
        Bytes = bytes;
        HoldsSlot = holdsSlot;
    }

    internal FrameKind Kind { get; }

    internal PooledBuffer Bytes { get; }

    internal bool HoldsSlot { get; }

    internal static OutgoingFrame Copy(FrameKind kind, ReadOnlySpan<byte> header, ReadOnlySpan<byte> body, bool holdsSlot)
    {
        var bytes = PooledBuffer.Rent(header.Length + body.Length);
        header.CopyTo(bytes.GetSpan(header.Length));
        bytes.Advance(header.Length);
        if (!body.IsEmpty)
        {
            body.CopyTo(bytes.GetSpan(body.Length));
            bytes.Advance(body.Length);
        }

        return new OutgoingFrame(kind, bytes, holdsSlot);
    }

    public void Dispose() => Bytes.Dispose();
}
