using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sandgrain.Transport;

/// <summary>
/// Opens files in the group container that any member of the group (or any process of the user outside the
/// sandbox) may have replaced: without following a symbolic link, without waiting (a FIFO opened for reading
/// waits for a writer forever), and only when what was opened is a regular file of a sane size.
/// </summary>
internal static class UntrustedFile
{
    /// <summary>Reads a whole file of at most <paramref name="maxBytes"/> bytes.</summary>
    /// <exception cref="FileNotFoundException">Nothing is there (any more).</exception>
    /// <exception cref="UntrustedFileException">It is a link, not a regular file, or too large; the message says which.</exception>
    /// <exception cref="IOException">It could not be read.</exception>
    internal static byte[] ReadAll(string path, int maxBytes)
    {
        using var handle = OpenRegular(path, FileIdentity.OpenReadNoFollowNonBlocking, maxBytes, out var size);
        var bytes = new byte[size];
        var read = 0;
        while (read < bytes.Length)
        {
            var n = RandomAccess.Read(handle, bytes.AsSpan(read), read);
            if (n == 0)
            {
                break; // Truncated while reading: what there is, which the caller's parser judges.
            }

            read += n;
        }

        return read == bytes.Length ? bytes : bytes[..read];
    }

    /// <summary>Opens an existing regular file with <paramref name="flags"/> (which include O_NOFOLLOW), checking its type and size.</summary>
    internal static SafeFileHandle OpenRegular(string path, int flags, long maxBytes, out int size)
    {
        var fd = FileIdentity.Open(path, flags);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == FileIdentity.ENOENT)
            {
                throw new FileNotFoundException($"'{path}' does not exist.", path);
            }

            if (errno == FileIdentity.ELOOP)
            {
                throw new UntrustedFileException($"it is a symbolic link, which Sandgrain never follows in the group container");
            }

            throw new IOException($"Cannot open '{path}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            if (FileIdentity.TryGetKind(handle, out var regular, out var length))
            {
                if (!regular)
                {
                    throw new UntrustedFileException("it is not a regular file (a FIFO, device, socket or folder)");
                }

                if (length > maxBytes)
                {
                    throw new UntrustedFileException($"it is {length} bytes, over the {maxBytes}-byte limit for it");
                }

                size = (int)length;
                return handle;
            }

            // The system cannot say what it is (a C library older than statx): read at most the limit.
            size = (int)Math.Min(RandomAccess.GetLength(handle), maxBytes);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }
}

/// <summary>A file in the group container that is not what it should be; the message says what it is instead.</summary>
internal sealed class UntrustedFileException(string problem) : IOException(problem);
