using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

/// <summary>
/// Maps the logical library name "libc" to the C library of the running platform, because a bare
/// "libc" resolves to a linker script (not a shared object) on glibc systems. Every <c>libc</c> import of
/// Sandgrain is declared in <see cref="LibC"/>, in this assembly, so this one resolver serves them all.
/// </summary>
internal static class LibCResolver
{
#pragma warning disable CA2255 // Imports must resolve before any of this assembly's code runs.
    [ModuleInitializer]
    internal static void InstallForThisAssembly() => NativeLibrary.SetDllImportResolver(typeof(LibCResolver).Assembly, Resolve);
#pragma warning restore CA2255

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != "libc")
        {
            return IntPtr.Zero;
        }

        if (OperatingSystem.IsMacOS())
        {
            return NativeLibrary.Load("/usr/lib/libSystem.B.dylib");
        }

        return NativeLibrary.TryLoad("libc.so.6", out var handle) ? handle : IntPtr.Zero;
    }
}
