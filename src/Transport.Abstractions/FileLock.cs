using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport;

/// <summary>
/// An exclusive advisory lock (<c>flock</c>) on a file, held until disposed or until the process dies:
/// the kernel releases it the instant its holder exits, however it exits, so "is the holder alive" is
/// a non-blocking lock attempt with no heartbeat and no pid-reuse problem, across PID namespaces.
/// </summary>
/// <remarks>
/// <para>
/// A lock file may be deleted only by <see cref="DeleteAndRelease"/>, by its holder. Whoever locks a file checks,
/// holding the lock, that the file it holds is still the one at its path (same device and inode) and opens the
/// path again when it is not, so a lock file deleted between another process's open and its lock never leaves
/// two processes each holding a different inode of the same path.
/// </para>
/// <para>
/// Lock files are opened without following symbolic links and without the shared lock .NET takes on the files
/// it opens, so that checking a lock (<see cref="IsHeldExclusively"/>) never disturbs another check.
/// </para>
/// </remarks>
internal sealed class FileLock : IDisposable
{
    // A file deleted and created again this many times while one caller locks it is being attacked, not raced.
    private const int MaxReopens = 16;

    private readonly SafeFileHandle _handle;

    private FileLock(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <summary>The locked file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock if nobody holds it; returns null when another open file holds it.</summary>
    /// <exception cref="IOException">The file cannot be opened or locked for another reason (it is a symbolic link, for one).</exception>
    public static FileLock? TryAcquire(string path) => TryAcquire(path, LibC.LOCK_EX);

    /// <summary>
    /// Takes a shared lock if nobody holds the exclusive one; returns null when someone does. Any number of processes
    /// may hold it at once, and <see cref="IsHeldExclusively"/> sees the file free meanwhile: while it is held, it
    /// proves that no exclusive holder lives, without making anyone checking think one does. For removing what a
    /// dead holder left, whose lock nobody will take exclusively again.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened or locked for another reason.</exception>
    public static FileLock? TryAcquireShared(string path) => TryAcquire(path, LibC.LOCK_SH);

    private static FileLock? TryAcquire(string path, int operation)
    {
        ArgumentNullException.ThrowIfNull(path);
        for (var attempt = 0; attempt < MaxReopens; attempt++)
        {
            var handle = OpenOrCreate(path);
            try
            {
                if (!TryLock(handle, operation, path))
                {
                    return null;
                }

                // Deleted by its holder between our open and our lock: the path names another file now, or none.
                if (FileIdentity.IsLinkedAt(handle, path))
                {
                    var result = new FileLock(path, handle);
                    handle = null;
                    return result;
                }
            }
            finally
            {
                handle?.Dispose();
            }
        }

        throw new IOException($"Lock file '{path}' was deleted and created again {MaxReopens} times while it was being locked; something other than Sandgrain is changing that folder.");
    }

    /// <summary>
    /// Takes the lock, retrying for up to <paramref name="contention"/> while it is held: for a lock whose holder is
    /// known to be gone, which another process may be checking (<see cref="IsHeldExclusively"/>) at this instant.
    /// Returns null when it is still held after that.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened or locked for another reason.</exception>
    public static FileLock? TryAcquire(string path, TimeSpan contention)
    {
        var started = Stopwatch.GetTimestamp();
        var spin = new SpinWait();
        while (true)
        {
            if (TryAcquire(path) is { } taken)
            {
                return taken;
            }

            if (Stopwatch.GetElapsedTime(started) >= contention)
            {
                return null;
            }

            // A check holds its shared lock for microseconds: yield, then sleep a millisecond at a time.
            spin.SpinOnce(sleep1Threshold: 20);
        }
    }

    /// <summary>Waits until the lock can be taken, polling without blocking a thread.</summary>
    public static async Task<FileLock> AcquireAsync(string path, CancellationToken cancellationToken = default)
    {
        var delay = 1;
        while (true)
        {
            var taken = TryAcquire(path);
            if (taken is not null)
            {
                return taken;
            }

            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = Math.Min(delay * 2, 20);
        }
    }

    /// <summary>
    /// True when some process holds a lock of any kind on <paramref name="path"/> (this lock, or a shared one taken
    /// with <see cref="LockShared"/>); false when it is free or the file is missing. Takes the exclusive lock for an
    /// instant, so a concurrent check can see the file held: to ask whether a <see cref="FileLock"/> holder lives,
    /// use <see cref="IsHeldExclusively"/>.
    /// </summary>
    public static bool IsHeld(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var handle = OpenExisting(path, forLock: false);
        return handle is not null && !TryLock(handle, LibC.LOCK_EX, path);
    }

    /// <summary>
    /// True when a process holds the exclusive lock (<see cref="TryAcquire(string)"/>) on <paramref name="path"/>;
    /// false when nobody does or the file is missing. Takes only a shared lock for an instant, so any number of
    /// processes checking at once never make each other see the file held.
    /// </summary>
    public static bool IsHeldExclusively(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var handle = OpenExisting(path, forLock: false);
        return handle is not null && !TryLock(handle, LibC.LOCK_SH, path);
    }

    /// <summary>
    /// Takes a shared lock on an open file for as long as the handle stays open, so that
    /// <see cref="IsHeld"/> reports the file in use while any holder lives.
    /// </summary>
    /// <exception cref="IOException">Another process holds an exclusive lock on the file.</exception>
    internal static void LockShared(SafeFileHandle handle, string path)
    {
        while (LibC.flock((int)handle.DangerousGetHandle(), LibC.LOCK_SH | LibC.LOCK_NB) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EINTR)
            {
                throw new IOException($"flock(LOCK_SH) on '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
            }
        }
    }

    /// <summary>
    /// Deletes the lock file, holding the lock while it does, then releases it. Whoever opened the file before it
    /// was deleted finds, once it holds the lock, that it is no longer the file at the path, and opens the path again.
    /// </summary>
    /// <remarks>
    /// Held exclusively, nobody else holds the file meanwhile. Held shared (<see cref="TryAcquireShared"/>), nobody holds
    /// it exclusively meanwhile, but other shared holders may delete it too: only for a file nobody will lock
    /// exclusively again.
    /// </remarks>
    public void DeleteAndRelease()
    {
        try
        {
            if (!_handle.IsClosed && FileIdentity.IsLinkedAt(_handle, Path))
            {
                File.Delete(Path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not ours to delete, or gone: releasing is what matters.
        }
        finally
        {
            _handle.Dispose();
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Opens the lock file, creating it (mode 0600) when missing.</summary>
    private static SafeFileHandle OpenOrCreate(string path)
    {
        IOException? last = null;
        for (var attempt = 0; attempt < MaxReopens; attempt++)
        {
            if (OpenExisting(path, forLock: true) is { } handle)
            {
                try
                {
                    PrivateFile.MakePrivate(handle);
                }
                catch (UnauthorizedAccessException)
                {
                    // Not ours to chmod (another user's file in a shared folder); the lock still works.
                }

                return handle;
            }

            try
            {
                // O_CREAT|O_EXCL: never follows a link, and fails when another process created it first.
                new FileStream(path, PrivateFile.Options(FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete)).Dispose();
            }
            catch (IOException e) when (e is not DirectoryNotFoundException)
            {
                // Created (or created and deleted) by someone else meanwhile: open what is there now.
                last = e;
            }
        }

        throw new IOException($"Lock file '{path}' could not be opened or created in {MaxReopens} attempts: {last?.Message}", last);
    }

    /// <summary>
    /// Opens an existing lock file without following a link and without taking any lock; null when it is missing
    /// (or, for a check rather than a lock, <paramref name="forLock"/> false, when it is a link).
    /// </summary>
    private static SafeFileHandle? OpenExisting(string path, bool forLock)
    {
        while (true)
        {
            var fd = FileIdentity.Open(path, FileIdentity.OpenReadWriteNoFollow);
            if (fd >= 0)
            {
                return new SafeFileHandle(fd, ownsHandle: true);
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EINTR)
            {
                continue;
            }

            if (errno == FileIdentity.ENOENT || (errno == FileIdentity.ELOOP && !forLock))
            {
                // Nobody holds a lock through a link: to a check, a link is as good as no file.
                return null;
            }

            var reason = errno == FileIdentity.ELOOP
                ? "it is a symbolic link, which Sandgrain never follows in its own folders"
                : Marshal.GetPInvokeErrorMessage(errno);
            throw new IOException($"Cannot open lock file '{path}': {reason} (errno {errno}).");
        }
    }

    private static bool TryLock(SafeFileHandle handle, int operation, string path)
    {
        while (true)
        {
            if (LibC.flock((int)handle.DangerousGetHandle(), operation | LibC.LOCK_NB) == 0)
            {
                return true;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EINTR)
            {
                continue;
            }

            if (errno == LibC.EWOULDBLOCK)
            {
                return false;
            }

            throw new IOException($"flock on '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }
    }
}

/// <summary>
/// <c>open</c> without following links, and the device and inode of an open file and of a path, for
/// <see cref="FileLock"/>. Linux uses <c>statx</c>, whose layout is the same on every architecture; macOS uses
/// <c>fstat</c>/<c>lstat</c> with 64-bit inodes (the <c>$INODE64</c> entry points on x64).
/// </summary>
internal static unsafe partial class FileIdentity
{
    internal const int ENOENT = 2;

    private const int AT_FDCWD = -100;
    private const int AT_SYMLINK_NOFOLLOW = 0x100;
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_INO = 0x100;
    private const uint STATX_TYPE = 0x1;
    private const uint STATX_SIZE = 0x200;

    // <sys/stat.h>: the file-type bits of st_mode, the same on Linux and macOS.
    private const int S_IFMT = 0xF000;
    private const int S_IFREG = 0x8000;

    /// <summary>ELOOP: Linux 40, macOS 62.</summary>
    internal static int ELOOP => OperatingSystem.IsMacOS() ? 62 : 40;

    /// <summary>
    /// O_RDWR | O_NOFOLLOW | O_CLOEXEC. O_NOFOLLOW is 0x100 on macOS, 0x8000 on Linux arm, arm64 and ppc64le, 0x20000
    /// on the other Linux architectures; O_CLOEXEC is 0x1000000 on macOS and 0x80000 on Linux. Close-on-exec matters:
    /// a helper the launcher spawns must not inherit (and so keep holding) the launcher's locks.
    /// </summary>
    internal static int OpenReadWriteNoFollow { get; } = 2 | (OperatingSystem.IsMacOS()
        ? 0x100 | 0x1000000
        : 0x80000 | (RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Ppc64le ? 0x8000 : 0x20000));

    /// <summary>
    /// O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC: for reading a file any group member may have replaced. Without
    /// O_NONBLOCK, opening a FIFO waits for a writer forever. O_NONBLOCK is 0x4 on macOS and 0x800 on Linux.
    /// </summary>
    internal static int OpenReadNoFollowNonBlocking { get; } = (OpenReadWriteNoFollow & ~2) | (OperatingSystem.IsMacOS() ? 0x4 : 0x800);

    /// <summary>
    /// Opens an existing file. <c>open</c> is variadic, but its third argument is read only with O_CREAT (or
    /// O_TMPFILE), which is never passed here: a call with the two fixed arguments is the C caller's own call on
    /// every ABI, Apple arm64 included. Files are created through .NET's O_CREAT|O_EXCL instead.
    /// </summary>
    internal static int Open(string path, int flags) => open(path, flags);

    /// <summary>True when <paramref name="path"/> names the very file <paramref name="handle"/> has open (same device and inode).</summary>
    internal static bool IsLinkedAt(SafeFileHandle handle, string path)
    {
        if (!TryGet(handle, out var open))
        {
            return true; // Cannot tell on this system: trust the open, as before this check existed.
        }

        return TryGet(path, out var named) && named == open;
    }

    /// <summary>The device and inode of an open file.</summary>
    internal static bool TryGet(SafeFileHandle handle, out (ulong Device, ulong Inode) identity)
    {
        var fd = (int)handle.DangerousGetHandle();
        if (OperatingSystem.IsMacOS())
        {
            DarwinStat st;
            var rc = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? fstat_inode64(fd, &st) : fstat(fd, &st);
            identity = ((ulong)(uint)st.Device, st.Inode);
            return rc == 0;
        }

        LinuxStatx stx;
        var result = StatxOrMissing(fd, "", AT_EMPTY_PATH, &stx);
        identity = (((ulong)stx.DeviceMajor << 32) | stx.DeviceMinor, stx.Inode);
        return result == 0;
    }

    /// <summary>Whether an open file is a regular file, and its size; false when the system cannot tell.</summary>
    internal static bool TryGetKind(SafeFileHandle handle, out bool regular, out long size)
    {
        var fd = (int)handle.DangerousGetHandle();
        ushort mode;
        if (OperatingSystem.IsMacOS())
        {
            DarwinStat st;
            var rc = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? fstat_inode64(fd, &st) : fstat(fd, &st);
            (mode, size) = (st.Mode, st.Size);
            regular = (mode & S_IFMT) == S_IFREG;
            return rc == 0;
        }

        LinuxStatx stx;
        var result = StatxOrMissing(fd, "", AT_EMPTY_PATH, &stx, STATX_TYPE | STATX_SIZE);
        (mode, size) = (stx.Mode, (long)stx.Size);
        regular = (mode & S_IFMT) == S_IFREG;
        return result == 0;
    }

    /// <summary>The device and inode of the file a path names (the link itself, for a link); false when it names none.</summary>
    internal static bool TryGet(string path, out (ulong Device, ulong Inode) identity)
    {
        if (OperatingSystem.IsMacOS())
        {
            DarwinStat st;
            var rc = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? lstat_inode64(path, &st) : lstat(path, &st);
            identity = ((ulong)(uint)st.Device, st.Inode);
            return rc == 0;
        }

        LinuxStatx stx;
        var result = StatxOrMissing(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &stx);
        identity = (((ulong)stx.DeviceMajor << 32) | stx.DeviceMinor, stx.Inode);
        return result == 0;
    }

    private static int StatxOrMissing(int dirfd, string path, int flags, LinuxStatx* buffer, uint mask = STATX_INO)
    {
        *buffer = default;
        try
        {
            return statx(dirfd, path, flags, mask, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            return -1; // A C library older than statx (glibc 2.28, musl 1.2.5).
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, LinuxStatx* buffer);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstat(int fd, DarwinStat* buffer);

    [LibraryImport("libc", EntryPoint = "fstat$INODE64", SetLastError = true)]
    private static partial int fstat_inode64(int fd, DarwinStat* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lstat(string path, DarwinStat* buffer);

    [LibraryImport("libc", EntryPoint = "lstat$INODE64", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lstat_inode64(string path, DarwinStat* buffer);

    /// <summary>Linux <c>struct statx</c> (uapi <c>linux/stat.h</c>): 256 bytes on every architecture.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct LinuxStatx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(16)] public uint LinkCount;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(136)] public uint DeviceMajor;
        [FieldOffset(140)] public uint DeviceMinor;
    }

    /// <summary>macOS <c>struct stat</c> with 64-bit inodes (<c>sys/stat.h</c>, <c>__DARWIN_STRUCT_STAT64</c>): 144 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    internal struct DarwinStat
    {
        [FieldOffset(0)] public int Device;
        [FieldOffset(4)] public ushort Mode;
        [FieldOffset(6)] public ushort LinkCount;
        [FieldOffset(8)] public ulong Inode;
        [FieldOffset(96)] public long Size;
    }
}
