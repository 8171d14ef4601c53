using System.Net.Sockets;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// Whether an accepted connection would leave this process too few descriptors. A new descriptor is the lowest
/// one free (POSIX), so the number of the one just accepted says how full the table is, at no cost: at or past
/// the limit minus a reserve, the connection is refused. The reserve (a quarter of the limit, at least 64) is for
/// what the process itself needs: every thread the .NET runtime starts opens a pipe, and the runtime ends the
/// process when it cannot.
/// </summary>
internal static class DescriptorHeadroom
{
    internal static bool IsNearLimit(Socket accepted, out int descriptor, out ulong limit, out int reserve)
    {
        descriptor = (int)accepted.SafeHandle.DangerousGetHandle();
        limit = CurrentLimit();
        reserve = (int)Math.Max(64, Math.Min(limit / 4, 4096));
        return limit != ulong.MaxValue && (ulong)descriptor + (ulong)reserve >= limit;
    }

    /// <summary>The soft RLIMIT_NOFILE (the runtime raises it to the hard limit at start; a user may lower it).</summary>
    private static unsafe ulong CurrentLimit()
    {
        LibC.RLimit value;
        return LibC.GetRLimit(LibC.RLIMIT_NOFILE, &value) == 0 ? value.Current : ulong.MaxValue;
    }
}
