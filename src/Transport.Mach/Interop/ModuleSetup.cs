using System.Runtime.CompilerServices;

namespace Sandgrain.Transport.Mach.Interop;

internal static class ModuleSetup
{
#pragma warning disable CA2255 // Imports must resolve before any of this assembly's code runs.
    [ModuleInitializer]
    internal static void Initialize() => Sandgrain.Transport.Interop.LibCResolver.Install(typeof(ModuleSetup).Assembly);
#pragma warning restore CA2255
}
