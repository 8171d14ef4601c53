using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.SharedMemory.Interop;

/// <summary>
/// Linux futex wait/wake on a word in a shared mapping. The shared (not <c>_PRIVATE</c>) operations key the
/// wait queue on the physical page, so two processes mapping the same file meet on the same word.
/// </summary>
/// <remarks>
/// glibc exports no futex wrapper, so this goes through <c>syscall(2)</c> (<see cref="LibC.FutexSyscall"/>). <c>syscall</c> is variadic in C; on
/// Linux x86-64 and AArch64 variadic integer and pointer arguments travel in the same registers as fixed
/// ones, so a fixed-argument declaration is exact there (this path never runs on macOS, whose arm64 ABI
/// differs). Numbers: <c>SYS_futex</c> is 202 on x86-64 (<c>arch/x86/entry/syscalls/syscall_64.tbl</c>) and 98
/// on the generic table AArch64 uses (<c>include/uapi/asm-generic/unistd.h</c>); <c>FUTEX_WAIT</c> 0,
/// <c>FUTEX_WAKE</c> 1 (<c>include/uapi/linux/futex.h</c>).
/// </remarks>
internal static unsafe class Futex
{
    private const int FutexWait = 0;
    private const int FutexWake = 1;

    internal static bool IsSupported => OperatingSystem.IsLinux() && SyscallNumber != 0;

    private static long SyscallNumber => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => 0,
    };

    /// <summary>Sleeps while <c>*word == expected</c>, for at most <paramref name="timeoutMs"/>.</summary>
    internal static void Wait(int* word, int expected, int timeoutMs)
    {
        var timeout = new LibC.Timespec { Seconds = timeoutMs / 1000, Nanoseconds = (timeoutMs % 1000) * 1_000_000L };
        // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean "look again", which every caller does.
        _ = LibC.FutexSyscall(SyscallNumber, word, FutexWait, expected, &timeout, null, 0);
    }

    /// <summary>Wakes up to <paramref name="count"/> waiters on <paramref name="word"/>, in any process.</summary>
    internal static void Wake(int* word, int count) => _ = LibC.FutexSyscall(SyscallNumber, word, FutexWake, count, null, null, 0);
}
