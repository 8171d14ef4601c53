using System.Runtime.InteropServices;

namespace Sandgrain.Transport.Interop;

// Which CPU the calling thread runs on, for the shared-memory transport's choice between spinning and parking.
internal static partial class LibC
{
    /// <summary><c>sched_getcpu()</c> (glibc, Linux): the CPU the calling thread is on now, or -1.</summary>
    [LibraryImport(Lib, EntryPoint = "sched_getcpu")]
    internal static partial int SchedGetCpu();
}
