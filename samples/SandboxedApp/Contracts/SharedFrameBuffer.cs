using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace SandboxedApp.Contracts;

/// <summary>What a subscriber found when it looked at a frame.</summary>
public enum FrameCheck
{
    /// <summary>The frame is there and every pixel is what the pattern says.</summary>
    Verified,

    /// <summary>The publisher reused the slot before the subscriber finished looking (it fell behind): dropped, not corrupt.</summary>
    Overwritten,

    /// <summary>The slot held the frame, unchanged while it was checked, and a pixel is wrong.</summary>
    Corrupt,
}

/// <summary>
/// A ring of BGRA frames in a file mapped by the publisher and every subscriber (an IOSurface stand-in). Each
/// slot has a sequence word (odd while being written) and a frame number in front of its pixels: a seqlock, so
/// a reader knows whether what it read is one whole frame. Frames carry a generated pattern that depends on
/// the frame number, so a reader can tell a corrupt frame from a good one.
/// </summary>
public sealed unsafe class SharedFrameBuffer : IDisposable
{
    private const ulong Magic = 0x53454D4152464753; // "SGFRAMES"
    private const int FileHeaderSize = 4096;
    private const int SlotHeaderSize = 64;
    private const int MaxWidth = 2048;
    private const int MaxHeight = 8192;
    private const int MaxSlots = 16;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _slotStride;

    private SharedFrameBuffer(MemoryMappedFile file, int width, int height, int slots)
    {
        _file = file;
        _view = file.CreateViewAccessor();
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
        Width = width;
        Height = height;
        Slots = slots;
        _slotStride = SlotStride(width, height);
    }

    /// <summary>Frame width in pixels.</summary>
    public int Width { get; }

    /// <summary>Frame height in pixels.</summary>
    public int Height { get; }

    /// <summary>Number of slots.</summary>
    public int Slots { get; }

    /// <summary>Bytes in one frame's pixels.</summary>
    public int FrameBytes => Width * Height * 4;

    /// <summary>Creates the buffer file (mode 0600) and maps it.</summary>
    public static SharedFrameBuffer Create(string path, int width, int height, int slots)
    {
        Validate(width, height, slots);
        var length = FileHeaderSize + (SlotStride(width, height) * slots);
        using (var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.ReadWrite, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        {
            stream.SetLength(length);
        }

        var buffer = new SharedFrameBuffer(MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite), width, height, slots);
        var header = new Span<byte>(buffer._base, FileHeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], width);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], height);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], slots);
        Volatile.Write(ref *(ulong*)buffer._base, Magic);
        return buffer;
    }

    /// <summary>Maps a buffer another process created, checking it against what the publisher said.</summary>
    /// <exception cref="InvalidDataException">The file is not a frame buffer of that geometry.</exception>
    public static SharedFrameBuffer Open(string path, FrameStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Validate(stream.Width, stream.Height, stream.Slots);
        var expected = FileHeaderSize + (SlotStride(stream.Width, stream.Height) * stream.Slots);
        var actual = new FileInfo(path).Length;
        if (actual != expected)
        {
            throw new InvalidDataException($"{path} is {actual} bytes; a {stream.Width}×{stream.Height} buffer of {stream.Slots} slots is {expected}.");
        }

        var buffer = new SharedFrameBuffer(MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite), stream.Width, stream.Height, stream.Slots);
        var header = new ReadOnlySpan<byte>(buffer._base, FileHeaderSize);
        if (Volatile.Read(ref *(ulong*)buffer._base) != Magic
            || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != stream.Width
            || BinaryPrimitives.ReadInt32LittleEndian(header[12..]) != stream.Height
            || BinaryPrimitives.ReadInt32LittleEndian(header[16..]) != stream.Slots)
        {
            buffer.Dispose();
            throw new InvalidDataException($"{path} is not a {stream.Width}×{stream.Height}, {stream.Slots}-slot frame buffer.");
        }

        return buffer;
    }

    /// <summary>Writes frame <paramref name="frameNumber"/> into its slot and returns the slot.</summary>
    public int Write(long frameNumber)
    {
        var slot = (int)(frameNumber % Slots);
        var header = SlotHeader(slot);
        var sequence = Volatile.Read(ref header[0]);
        Volatile.Write(ref header[0], sequence | 1);
        Interlocked.MemoryBarrier();
        header[1] = (ulong)frameNumber;
        var pixels = Pixels(slot);
        for (var y = 0; y < Height; y++)
        {
            FillRow(pixels.Slice(y * Width, Width), y, frameNumber);
        }

        Volatile.Write(ref header[0], (sequence | 1) + 1);
        return slot;
    }

    /// <summary>Checks that <paramref name="slot"/> holds frame <paramref name="frameNumber"/> with the right pixels.</summary>
    public FrameCheck Check(long frameNumber, int slot)
    {
        if ((uint)slot >= (uint)Slots)
        {
            return FrameCheck.Corrupt;
        }

        var header = SlotHeader(slot);
        var before = Volatile.Read(ref header[0]);
        if ((before & 1) != 0 || Volatile.Read(ref header[1]) != (ulong)frameNumber)
        {
            return FrameCheck.Overwritten;
        }

        var pixels = Pixels(slot);
        Span<uint> expected = stackalloc uint[MaxWidth];
        var good = true;
        for (var y = 0; y < Height && good; y++)
        {
            var row = expected[..Width];
            FillRow(row, y, frameNumber);
            good = pixels.Slice(y * Width, Width).SequenceEqual(row);
        }

        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref header[0]) != before)
        {
            return FrameCheck.Overwritten;
        }

        return good ? FrameCheck.Verified : FrameCheck.Corrupt;
    }

    /// <summary>Flips one pixel of a slot (for the test that a corrupt frame is noticed).</summary>
    public void Damage(int slot, int pixel) => Pixels(slot)[pixel] ^= 0x00FF00FF;

    /// <inheritdoc />
    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private static void Validate(int width, int height, int slots)
    {
        if (width is < 1 or > MaxWidth || height is < 1 or > MaxHeight)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"Frames are 1–{MaxWidth} pixels wide and 1–{MaxHeight} high; {width}×{height} is not.");
        }

        if (slots is < 2 or > MaxSlots)
        {
            throw new ArgumentOutOfRangeException(nameof(slots), slots, $"A frame buffer has 2–{MaxSlots} slots.");
        }
    }

    private static long SlotStride(int width, int height) => (SlotHeaderSize + ((long)width * height * 4) + 4095) & ~4095L;

    // The generated pattern: blue runs along x, green along y, both moving with the frame number; red is the frame counter.
    private static void FillRow(Span<uint> row, int y, long frameNumber)
    {
        var n = (uint)frameNumber;
        var fixedPart = 0xFF000000u | ((n & 0xFF) << 16) | ((((uint)y + (2 * n)) & 0xFF) << 8);
        for (var x = 0; x < row.Length; x++)
        {
            row[x] = fixedPart | (((uint)x + n) & 0xFF);
        }
    }

    private Span<ulong> SlotHeader(int slot) => new(_base + FileHeaderSize + (slot * _slotStride), 2);

    private Span<uint> Pixels(int slot) => new(_base + FileHeaderSize + (slot * _slotStride) + SlotHeaderSize, Width * Height);
}
