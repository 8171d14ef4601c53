using System.Runtime.InteropServices;

namespace Sandgrain.Transport.SharedMemory.Interop;

/// <summary>
/// macOS 14.4+ <c>os_sync_wait_on_address_with_timeout</c> / <c>os_sync_wake_by_address_any</c> with the shared
/// flag, which lets two processes wait and wake on a word of a shared mapping. Looked up at run time
/// (sandbox-facts "What to check at startup", item 9), because older systems lack the symbols.
/// </summary>
/// <remarks>
/// From <c>&lt;os/os_sync_wait_on_address.h&gt;</c> (macOS 14.4 SDK): <c>OS_SYNC_WAIT_ON_ADDRESS_SHARED</c> = 0x1,
/// <c>OS_SYNC_WAKE_BY_ADDRESS_SHARED</c> = 0x1, <c>OS_CLOCK_MACH_ABSOLUTE_TIME</c> = 32 (<c>&lt;os/clock.h&gt;</c>);
/// sizes 4 or 8 only.
/// </remarks>
internal static unsafe class OsSync
{
    private const uint WaitShared = 0x1;
    private const uint WakeShared = 0x1;
    private const uint ClockMachAbsoluteTime = 32;

    private static readonly delegate* unmanaged<void*, ulong, nuint, uint, uint, ulong, int> s_wait;
    private static readonly delegate* unmanaged<void*, nuint, uint, int> s_wake;

#pragma warning disable CA1810 // The lookup must run once, and only on macOS.
    static OsSync()
#pragma warning restore CA1810
    {
        if (!OperatingSystem.IsMacOS() || !NativeLibrary.TryLoad("/usr/lib/libSystem.B.dylib", out var lib))
        {
            return;
        }

        if (NativeLibrary.TryGetExport(lib, "os_sync_wait_on_address_with_timeout", out var wait)
            && NativeLibrary.TryGetExport(lib, "os_sync_wake_by_address_any", out var wake))
        {
            s_wait = (delegate* unmanaged<void*, ulong, nuint, uint, uint, ulong, int>)wait;
            s_wake = (delegate* unmanaged<void*, nuint, uint, int>)wake;
        }
    }

    internal static bool IsSupported => s_wait != null && s_wake != null;

    internal static void Wait(int* word, int expected, int timeoutMs)
    {
        // Mach absolute time is in nanoseconds on Apple silicon; on Intel Macs the timebase differs, which
        // only stretches or shrinks this safety timeout, never a wake-up.
        _ = s_wait(word, (uint)expected, 4, WaitShared, ClockMachAbsoluteTime, (ulong)timeoutMs * 1_000_000UL);
    }

    internal static void Wake(int* word) => _ = s_wake(word, 4, WakeShared);
}
