using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport;

/// <summary>
/// How a thread spins while it waits for the peer, whatever the transport. By one thread of this process at a time:
/// two spinners on a two-CPU machine leave no CPU for the peer, so a second waiter blocks at once. And by where the
/// peer runs, where that is known: over shared memory each side publishes the CPU its receive thread waits on in the
/// ring it consumes.
/// On the peer's own CPU every step yields, handing the CPU to the peer (measured on 2 vCPUs with both processes on
/// one: cheaper than parking, whose wake-up costs a futex call each way); on another CPU it mostly pauses, and yields
/// now and then for this process's other runnable threads.
/// </summary>
internal static class SpinPolicy
{
    private static int s_spinning;

    /// <summary>The calling thread's CPU + 1; 0 where it cannot be known (not Linux, or the call failed).</summary>
    internal static int CurrentCpu() => OperatingSystem.IsLinux() ? Math.Max(LibC.SchedGetCpu() + 1, 0) : 0;

    /// <summary>True when this thread may spin (no other thread of this process does); then <see cref="End"/> must follow.</summary>
    internal static bool TryBegin() => Interlocked.CompareExchange(ref s_spinning, 1, 0) == 0;

    internal static void End() => Volatile.Write(ref s_spinning, 0);

    /// <summary>One step of a spin, for a thread on <paramref name="ownCpu"/> waiting for a peer last seen on <paramref name="peerCpu"/> (CPU + 1, 0 unknown).</summary>
    internal static void SpinOnce(ref int spins, int ownCpu, int peerCpu)
    {
        if ((ownCpu != 0 && ownCpu == peerCpu) || (++spins & 15) == 0)
        {
            Thread.Yield();
        }
        else
        {
            Thread.SpinWait(4);
        }
    }
}
