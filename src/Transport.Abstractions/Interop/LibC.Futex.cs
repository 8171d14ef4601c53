using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

// The Linux futex system call, for the shared-memory transport's wake-ups. glibc exports no futex wrapper, so
// this goes through syscall(2). syscall is variadic in C; on Linux x86-64 and AArch64 variadic integer and
// pointer arguments travel in the same registers as fixed ones, so a fixed-argument declaration is exact there
// (it is never called on macOS, whose arm64 ABI differs).
internal static partial class LibC
{
    /// <summary><c>struct timespec</c> on LP64 Linux: two 64-bit fields.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary><c>syscall(SYS_futex, uaddr, futex_op, val, timeout, uaddr2, val3)</c>.</summary>
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    internal static unsafe partial long FutexSyscall(long number, int* word, int op, int value, Timespec* timeout, int* word2, int value3);
}
