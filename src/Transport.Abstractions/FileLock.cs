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
/// The lock file is never deleted by its holder: deleting a lock file while others may have it open
/// lets two processes each lock a different inode of the same path.
/// </remarks>
public sealed class FileLock : IDisposable
{
    // What .NET reports for an open refused by another holder's lock: the raw errno (EWOULDBLOCK) on Unix
    // today, HRESULT_FROM_WIN32(ERROR_SHARING_VIOLATION) in older runtimes.
    private const int SharingViolation = unchecked((int)0x80070020);

    private readonly SafeFileHandle _handle;

    private FileLock(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <summary>The locked file.</summary>
    public string Path { get; }

    /// <summary>Takes the lock if nobody holds it; returns null when another open file holds it.</summary>
    /// <exception cref="IOException">The file cannot be opened or locked for another reason.</exception>
    public static FileLock? TryAcquire(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var handle = Open(path);
        if (handle is null)
        {
            return null;
        }

        try
        {
            if (TryLock(handle, path))
            {
                var result = new FileLock(path, handle);
                handle = null;
                return result;
            }

            return null;
        }
        finally
        {
            handle?.Dispose();
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

    /// <summary>True when some process holds the lock on <paramref name="path"/>; false when it is free or the file is missing.</summary>
    public static bool IsHeld(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return false;
        }

        using var taken = TryAcquire(path);
        return taken is null;
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

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Opens the lock file; null when the open itself finds the lock held.</summary>
    private static SafeFileHandle? Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (IOException e) when (e.HResult == LibC.EWOULDBLOCK || e.HResult == SharingViolation)
        {
            // .NET takes a shared flock of its own when it opens a shareable file (unless file locking is
            // disabled for the process), so an exclusive holder elsewhere already shows here.
            return null;
        }

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

    private static bool TryLock(SafeFileHandle handle, string path)
    {
        while (true)
        {
            if (LibC.flock((int)handle.DangerousGetHandle(), LibC.LOCK_EX | LibC.LOCK_NB) == 0)
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
