using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Sandgrain.Transport.Mach.Interop;

/// <summary>
/// The libSystem entry points of Mach IPC and the bootstrap server. Non-variadic functions only, declared with
/// <see cref="LibraryImportAttribute"/> (style.md item 15), from <c>/usr/lib/libSystem.B.dylib</c> by its absolute
/// path, which re-exports libsystem_kernel (mach_*, vm_*) and libxpc (bootstrap_*).
/// </summary>
/// <remarks>
/// <para>
/// <c>mach_task_self()</c> is a macro over the exported variable <c>mach_task_self_</c>
/// (libsyscall/mach/mach/mach_init.h), so the variable is read from libSystem's exports.
/// </para>
/// <para>
/// The bootstrap port is read the same way, from the exported variable <c>bootstrap_port</c> that C code passes
/// to <c>bootstrap_check_in</c>/<c>bootstrap_look_up</c> (mach_init.h; "after main() starts, it is safe to assume
/// that this variable is always set", launchd's bootstrap.h). <c>task_get_special_port(TASK_BOOTSTRAP_PORT)</c>
/// is the fallback only, because it returns a new send right on every call that would have to be released.
/// </para>
/// </remarks>
[SupportedOSPlatform("macos")]
internal static unsafe partial class MachNative
{
    private const string LibSystemPath = "/usr/lib/libSystem.B.dylib";
    private const string Lib = LibSystemPath;

    private static nint s_taskSelfAddress;
    private static nint s_bootstrapPortAddress;
    private static uint s_fallbackBootstrapPort;

    /// <summary><c>mach_task_self()</c>: this task's name for its own task port, fixed for the life of the process.</summary>
    internal static uint TaskSelf => ReadGlobal(ref s_taskSelfAddress, "mach_task_self_");

    /// <summary>The task's bootstrap port, as <c>bootstrap_port</c>.</summary>
    internal static uint BootstrapPort
    {
        get
        {
            var port = ReadGlobal(ref s_bootstrapPortAddress, "bootstrap_port");
            if (port != MachAbi.MACH_PORT_NULL)
            {
                return port;
            }

            var cached = Volatile.Read(ref s_fallbackBootstrapPort);
            if (cached != MachAbi.MACH_PORT_NULL)
            {
                return cached;
            }

            uint special;
            var kr = task_get_special_port(TaskSelf, MachAbi.TASK_BOOTSTRAP_PORT, &special);
            if (kr != MachAbi.KERN_SUCCESS || special == MachAbi.MACH_PORT_NULL)
            {
                throw new IOException($"This process has no bootstrap port (bootstrap_port is null and task_get_special_port returned {MachErrors.Describe(kr)}); Mach services cannot be registered or looked up.");
            }

            // Kept for the life of the process: a second caller racing here releases its own copy.
            if (Interlocked.CompareExchange(ref s_fallbackBootstrapPort, special, MachAbi.MACH_PORT_NULL) != MachAbi.MACH_PORT_NULL)
            {
                _ = mach_port_deallocate(TaskSelf, special);
            }

            return Volatile.Read(ref s_fallbackBootstrapPort);
        }
    }

    [LibraryImport(Lib)]
    internal static partial int task_get_special_port(uint task, int whichPort, uint* specialPort);

    /// <summary><c>bootstrap_check_in(mach_port_t bp, const name_t service_name, mach_port_t *sp)</c>: returns the receive right.</summary>
    [LibraryImport(Lib)]
    internal static partial int bootstrap_check_in(uint bootstrapPort, byte* serviceName, uint* servicePort);

    /// <summary><c>bootstrap_look_up(mach_port_t bp, const name_t service_name, mach_port_t *sp)</c>: returns a send right.</summary>
    [LibraryImport(Lib)]
    internal static partial int bootstrap_look_up(uint bootstrapPort, byte* serviceName, uint* servicePort);

    [LibraryImport(Lib)]
    internal static partial int mach_port_allocate(uint task, uint right, uint* name);

    [LibraryImport(Lib)]
    internal static partial int mach_port_insert_right(uint task, uint name, uint poly, uint polyPoly);

    [LibraryImport(Lib)]
    internal static partial int mach_port_mod_refs(uint task, uint name, uint right, int delta);

    [LibraryImport(Lib)]
    internal static partial int mach_port_deallocate(uint task, uint name);

    [LibraryImport(Lib)]
    internal static partial int mach_port_request_notification(uint task, uint name, int msgId, uint sync, uint notify, uint notifyPoly, uint* previous);

    [LibraryImport(Lib)]
    internal static partial int mach_port_set_attributes(uint task, uint name, int flavor, int* portInfo, uint portInfoCount);

    [LibraryImport(Lib)]
    internal static partial int mach_port_type(uint task, uint name, uint* type);

    /// <summary>
    /// <c>mach_msg(mach_msg_header_t *msg, mach_msg_option_t option, mach_msg_size_t send_size,
    /// mach_msg_size_t rcv_size, mach_port_name_t rcv_name, mach_msg_timeout_t timeout, mach_port_name_t notify)</c>.
    /// </summary>
    [LibraryImport(Lib)]
    internal static partial int mach_msg(void* message, int option, uint sendSize, uint receiveLimit, uint receiveName, uint timeout, uint notify);

    [LibraryImport(Lib)]
    internal static partial void mach_msg_destroy(void* message);

    /// <summary><c>vm_deallocate(vm_map_t target_task, vm_address_t address, vm_size_t size)</c>; both are pointer-sized.</summary>
    [LibraryImport(Lib)]
    internal static partial int vm_deallocate(uint targetTask, nuint address, nuint size);

    private static uint ReadGlobal(ref nint address, string symbol)
    {
        var location = Volatile.Read(ref address);
        if (location == 0)
        {
            var library = NativeLibrary.Load(LibSystemPath);
            if (!NativeLibrary.TryGetExport(library, symbol, out location))
            {
                throw new PlatformNotSupportedException($"{LibSystemPath} does not export '{symbol}'; this macOS is not supported by the Mach transport.");
            }

            Volatile.Write(ref address, location);
        }

        return unchecked((uint)Marshal.ReadInt32(location));
    }
}
