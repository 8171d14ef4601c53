using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// One connection's mapped segment (see <see cref="SegmentLayout"/>): on Linux sealed anonymous memory passed by
/// descriptor (<see cref="CreateSealed"/>, <see cref="OpenSealed"/>); on macOS, which has no sealing, a file in the
/// group container named in the handshake (<see cref="Create"/>, <see cref="Open"/>), on which each side holds a
/// shared <c>flock</c> while it has it open, so a leftover file whose lock is free belonged to processes that are
/// gone and may be removed.
/// </summary>
internal sealed unsafe class Segment : IDisposable
{
    private readonly FileStream _file;
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    private Segment(string path, FileStream file, MemoryMappedFile map, MemoryMappedViewAccessor view, int capacity)
    {
        Path = path;
        _file = file;
        _map = map;
        _view = view;
        Capacity = capacity;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
    }

    internal string Path { get; }

    /// <summary>The open segment: what a client passes to the listener when segments go by descriptor.</summary>
    internal SafeFileHandle Handle => _file.SafeFileHandle;

    internal int Capacity { get; }

    internal byte* Base => _base;

    /// <summary>Creates a new segment file and initializes its header; the version is written last.</summary>
    internal static Segment Create(string path, int capacity)
    {
        RequireCapacity(capacity);
        var size = SegmentLayout.SegmentSize(capacity);
        var file = new FileStream(path, PrivateFile.Options(FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete));
        try
        {
            FileLock.LockShared(file.SafeFileHandle, path);

            // One size, set once: macOS allows a single ftruncate on POSIX shared memory, and a file gets the same rule.
            file.SetLength(size);
            var segment = Map(path, file, size, capacity);
            segment.WriteHeader();
            return segment;
        }
        catch
        {
            file.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>
    /// Creates a segment in anonymous memory (Linux <c>memfd</c>) with every page allocated now and sealed against
    /// shrinking and growing, to be passed to the listener by descriptor. Nothing is left in the group container, and
    /// neither side can later truncate what the other has mapped (an access past a truncated end is a SIGBUS, which
    /// .NET cannot catch); a machine out of memory fails here, with an error, not at a later ring access.
    /// </summary>
    /// <exception cref="IOException">The memory cannot be created, allocated or sealed; the message names the step and the system's error.</exception>
    internal static Segment CreateSealed(int capacity)
    {
        RequireCapacity(capacity);
        var size = SegmentLayout.SegmentSize(capacity);
        // Not executable, sealed so (a kernel with vm.memfd_noexec = 2 refuses any other memfd); kernels before 6.3
        // do not know the flag and say EINVAL, and there every memfd may be created as before.
        var fd = LibC.MemfdCreate("sandgrain-segment", LibC.MfdCloexec | LibC.MfdAllowSealing | LibC.MfdNoexecSeal);
        if (fd < 0 && Marshal.GetLastPInvokeError() == LibC.EINVAL)
        {
            fd = LibC.MemfdCreate("sandgrain-segment", LibC.MfdCloexec | LibC.MfdAllowSealing);
        }

        if (fd < 0)
        {
            throw SystemError("memfd_create() of a shared-memory segment", Marshal.GetLastPInvokeError());
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (LibC.Ftruncate(fd, size) != 0)
            {
                throw SystemError($"ftruncate() of a {size}-byte shared-memory segment", Marshal.GetLastPInvokeError());
            }

            int error;
            while ((error = LibC.Fallocate(fd, 0, 0, size) == 0 ? 0 : Marshal.GetLastPInvokeError()) == LibC.EINTR)
            {
            }

            if (error != 0)
            {
                throw SystemError($"Allocating the {size} bytes of a shared-memory segment (two rings of SharedMemoryTransportOptions.RingCapacity = {capacity})", error);
            }

            if (LibC.LinuxFcntl(fd, LibC.FAddSeals, LibC.FSealShrink | LibC.FSealGrow | LibC.FSealSeal) != 0)
            {
                throw SystemError("Sealing a shared-memory segment against resizing (F_ADD_SEALS)", Marshal.GetLastPInvokeError());
            }

            var file = new FileStream(handle, FileAccess.ReadWrite);
            try
            {
                var segment = Map("sealed memory", file, size, capacity);
                segment.WriteHeader();
                return segment;
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps a segment a peer passed by descriptor, after checking that it is what <see cref="CreateSealed"/> makes:
    /// a regular file of exactly the size the capacity needs, sealed against shrinking, growing and further sealing (so
    /// that its size can never change under the mapping); then every header field, as <see cref="Open"/> does.
    /// Takes <paramref name="handle"/> over: it is closed on failure and with the segment.
    /// </summary>
    /// <exception cref="InvalidDataException">The descriptor is not such a segment; the message says what it is instead.</exception>
    internal static Segment OpenSealed(SafeFileHandle handle, int expectedCapacity)
    {
        const string Source = "the segment the peer passed";
        try
        {
            // The seals first: once the size is sealed it cannot change between the look at it and the mapping, and
            // anything that is not sealable memory (a file on a mount its owner serves, a device) is refused before
            // this process asks anything else of it.
            var seals = LibC.LinuxFcntl((int)handle.DangerousGetHandle(), LibC.FGetSeals, 0);
            const int Required = LibC.FSealShrink | LibC.FSealGrow | LibC.FSealSeal;
            if (seals < 0 || (seals & Required) != Required)
            {
                var what = seals < 0 ? "it is not sealable memory (a file, FIFO, socket or device, not a memfd)" : $"its seals are 0x{seals:x}, without all of shrink, grow and seal (0x{Required:x})";
                throw new InvalidDataException($"Refused {Source}: {what}, so its owner could truncate it under this process's mapping.");
            }

            var expectedSize = SegmentLayout.SegmentSize(expectedCapacity);
            if (!FileIdentity.TryGetKind(handle, out var regular, out var length))
            {
                throw new InvalidDataException($"Refused {Source}: the system cannot say what kind of file it is.");
            }

            if (!regular)
            {
                throw new InvalidDataException($"Refused {Source}: it is not a regular file (a FIFO, device, socket or folder).");
            }

            if (length != expectedSize)
            {
                throw new InvalidDataException($"Refused {Source}: it is {length} bytes; a ring capacity of {expectedCapacity} needs exactly {expectedSize}.");
            }

            var file = new FileStream(handle, FileAccess.ReadWrite);
            try
            {
                return MapValidated(Source, file, expectedSize, expectedCapacity);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a segment another process created and checks every header field against what this build
    /// understands and against the file's real size, before anything else is read from it.
    /// </summary>
    /// <exception cref="InvalidDataException">The segment is not a valid segment of this layout; the message names the field, its value and what was expected.</exception>
    internal static Segment Open(string path, int expectedCapacity)
    {
        // The peer names the file: it may be a link, a FIFO or a device it put there. Opened without following a
        // link or waiting, and mapped only if it is a regular file of exactly the size the capacity needs.
        var expectedSize = SegmentLayout.SegmentSize(expectedCapacity);
        SafeFileHandle handle;
        try
        {
            handle = UntrustedFile.OpenRegular(path, FileIdentity.OpenReadWriteNoFollow, expectedSize, out _);
        }
        catch (UntrustedFileException e)
        {
            throw new InvalidDataException($"Segment '{path}' is refused: {e.Message}.", e);
        }

        var file = new FileStream(handle, FileAccess.ReadWrite);
        try
        {
            FileLock.LockShared(file.SafeFileHandle, path);
            if (file.Length != expectedSize)
            {
                throw new InvalidDataException($"Segment '{path}' is {file.Length} bytes; a ring capacity of {expectedCapacity} needs exactly {expectedSize}.");
            }

            return MapValidated(path, file, expectedSize, expectedCapacity);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static void RequireCapacity(int capacity)
    {
        if (!SegmentLayout.IsValidCapacity(capacity))
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"Ring capacity {capacity} must be a power of two from {SegmentLayout.MinCapacity} to {SegmentLayout.MaxCapacity} bytes (SharedMemoryTransportOptions.RingCapacity).");
        }
    }

    private static IOException SystemError(string step, int errno) =>
        new($"{step} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");

    /// <summary>Writes the header of a new segment; the version last, so a reader never sees a half-written one as ready.</summary>
    private void WriteHeader()
    {
        var b = _base;
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(b + SegmentLayout.MagicOffset, 8), SegmentLayout.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(b + SegmentLayout.HeaderSizeOffset, 4), SegmentLayout.DataOffset);
        BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(b + SegmentLayout.CapacityOffset, 4), Capacity);
        BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(b + SegmentLayout.CreatorPidOffset, 4), Environment.ProcessId);
        Volatile.Write(ref *(int*)(b + SegmentLayout.VersionOffset), SegmentLayout.Version);
    }

    internal RingView Ring(int index)
    {
        var control = _base + SegmentLayout.ControlOffset(index);
        return new RingView(
            _base + SegmentLayout.DataStart(index, Capacity),
            Capacity,
            (long*)(control + SegmentLayout.ProducerPositionOffset),
            (long*)(control + SegmentLayout.ConsumerPositionOffset),
            (int*)(control + SegmentLayout.DataWaiterOffset),
            (int*)(control + SegmentLayout.WriterClosedOffset),
            (int*)(control + SegmentLayout.SpaceWaiterOffset),
            (int*)(control + SegmentLayout.ConsumerCpuOffset));
    }

    public void Dispose()
    {
        if (_base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        _view.Dispose();
        _map.Dispose();
        _file.Dispose();
    }

    private static Segment Map(string path, FileStream file, long size, int capacity)
    {
        var map = MemoryMappedFile.CreateFromFile(file, null, size, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
        try
        {
            var view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
            return new Segment(path, file, map, view, capacity);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>Maps a segment another process made and checks its header; on failure the mapping is undone (the caller still owns <paramref name="file"/>).</summary>
    private static Segment MapValidated(string source, FileStream file, long size, int expectedCapacity)
    {
        var segment = Map(source, file, size, expectedCapacity);
        try
        {
            segment.Validate(expectedCapacity);
            return segment;
        }
        catch
        {
            segment.Dispose();
            throw;
        }
    }

    private void Validate(int expectedCapacity)
    {
        var version = Volatile.Read(ref *(int*)(_base + SegmentLayout.VersionOffset));
        var magic = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_base + SegmentLayout.MagicOffset, 8));
        var headerSize = BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(_base + SegmentLayout.HeaderSizeOffset, 4));
        var capacity = BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(_base + SegmentLayout.CapacityOffset, 4));
        if (version == 0)
        {
            throw new InvalidDataException($"Segment '{Path}' is not ready (version 0): its creator has not finished writing the header.");
        }

        if (magic != SegmentLayout.Magic)
        {
            throw new InvalidDataException($"Segment '{Path}' has magic 0x{magic:x16}; expected 0x{SegmentLayout.Magic:x16}. It is not a Sandgrain ring segment.");
        }

        if (version != SegmentLayout.Version)
        {
            throw new InvalidDataException($"Segment '{Path}' has layout version {version}; this build understands version {SegmentLayout.Version}. Both processes must run compatible Sandgrain versions.");
        }

        if (headerSize != SegmentLayout.DataOffset)
        {
            throw new InvalidDataException($"Segment '{Path}' has header size {headerSize}; expected {SegmentLayout.DataOffset}.");
        }

        if (capacity != expectedCapacity)
        {
            throw new InvalidDataException($"Segment '{Path}' has ring capacity {capacity}; the handshake announced {expectedCapacity}.");
        }
    }
}

/// <summary>Pointers to one ring's data and control words inside a mapped segment.</summary>
internal readonly unsafe struct RingView(byte* data, int capacity, long* producerPosition, long* consumerPosition, int* dataWaiter, int* writerClosed, int* spaceWaiter, int* consumerCpu)
{
    /// <summary>Where the consumer's thread last waited, as CPU + 1; 0 when not known (an older peer leaves it 0).</summary>
    internal int* ConsumerCpu { get; } = consumerCpu;

    internal byte* Data { get; } = data;

    internal int Capacity { get; } = capacity;

    internal long* ProducerPosition { get; } = producerPosition;

    internal long* ConsumerPosition { get; } = consumerPosition;

    internal int* DataWaiter { get; } = dataWaiter;

    internal int* WriterClosed { get; } = writerClosed;

    internal int* SpaceWaiter { get; } = spaceWaiter;
}
