using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Sandgrain.Transport.UnixSocket.Interop;

/// <summary>
/// The Security and CoreFoundation entry points that check a peer's code signature from its audit token
/// (sandbox-facts §4.4 "Peer credentials and code-signature checks"; "Security of peers", item 12):
/// <c>SecRequirementCreateWithString</c> once, then per peer <c>CFDataCreate</c> → <c>CFDictionaryCreate</c>
/// → <c>SecCodeCopyGuestWithAttributes</c> → <c>SecCodeCheckValidity</c>. Non-variadic functions only, declared
/// with <see cref="LibraryImportAttribute"/> (style.md item 15).
/// </summary>
/// <remarks>
/// <para>
/// The frameworks are named by absolute path, which the runtime opens as given (on macOS 11+ from the dyld
/// shared cache, as <c>dlopen</c> does). The runtime opens a library at the first call into it, so nothing here is loaded
/// until a transport is configured with a requirement, and never on Linux, where no caller reaches this class.
/// </para>
/// <para>
/// Signatures from the macOS SDK: <c>OSStatus</c> is <c>int32_t</c>; <c>SecCSFlags</c> is <c>uint32_t</c>
/// (CSCommon.h); <c>CFIndex</c> is <c>signed long</c> (pointer-sized); every <c>…Ref</c> is a pointer.
/// </para>
/// <para>
/// <c>kSecGuestAttributeAudit</c> and the <c>kCFTypeDictionary…CallBacks</c> are data, not functions, so they are
/// looked up with <see cref="NativeLibrary.GetExport"/> in a handle from <see cref="NativeLibrary.Load(string)"/>,
/// lazily and once (the same approach as <c>mach_task_self_</c> in the Mach transport).
/// </para>
/// </remarks>
[SupportedOSPlatform("macos")]
internal static unsafe partial class SecurityNative
{
    internal const string SecurityFramework = "/System/Library/Frameworks/Security.framework/Security";
    internal const string CoreFoundationFramework = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation";

    /// <summary>CSCommon.h: <c>kSecCSDefaultFlags</c> = 0.</summary>
    internal const uint SecCSDefaultFlags = 0;

    /// <summary>SecBase.h: <c>errSecSuccess</c> = 0.</summary>
    internal const int ErrSecSuccess = 0;

    private static nint s_guestAttributeAuditAddress;
    private static nint s_keyCallBacksAddress;
    private static nint s_valueCallBacksAddress;

    /// <summary>The value of <c>extern const CFStringRef kSecGuestAttributeAudit</c> (SecCode.h): the dictionary key for a 32-byte audit token as <c>CFData</c>.</summary>
    internal static nint GuestAttributeAudit =>
        Marshal.ReadIntPtr(Export(ref s_guestAttributeAuditAddress, SecurityFramework, "kSecGuestAttributeAudit"));

    /// <summary>The address of <c>kCFTypeDictionaryKeyCallBacks</c> (CFDictionary.h): keys are retained CF objects.</summary>
    internal static nint TypeDictionaryKeyCallBacks =>
        Export(ref s_keyCallBacksAddress, CoreFoundationFramework, "kCFTypeDictionaryKeyCallBacks");

    /// <summary>The address of <c>kCFTypeDictionaryValueCallBacks</c> (CFDictionary.h): values are retained CF objects.</summary>
    internal static nint TypeDictionaryValueCallBacks =>
        Export(ref s_valueCallBacksAddress, CoreFoundationFramework, "kCFTypeDictionaryValueCallBacks");

    /// <summary><c>CFStringRef CFStringCreateWithCharacters(CFAllocatorRef alloc, const UniChar *chars, CFIndex numChars)</c>; UTF-16, as .NET strings are.</summary>
    [LibraryImport(CoreFoundationFramework)]
    internal static partial nint CFStringCreateWithCharacters(nint allocator, char* chars, nint length);

    /// <summary><c>CFDataRef CFDataCreate(CFAllocatorRef allocator, const UInt8 *bytes, CFIndex length)</c>; copies the bytes.</summary>
    [LibraryImport(CoreFoundationFramework)]
    internal static partial nint CFDataCreate(nint allocator, byte* bytes, nint length);

    /// <summary>
    /// <c>CFDictionaryRef CFDictionaryCreate(CFAllocatorRef allocator, const void **keys, const void **values,
    /// CFIndex numValues, const CFDictionaryKeyCallBacks *keyCallBacks, const CFDictionaryValueCallBacks *valueCallBacks)</c>.
    /// </summary>
    [LibraryImport(CoreFoundationFramework)]
    internal static partial nint CFDictionaryCreate(nint allocator, nint* keys, nint* values, nint count, nint keyCallBacks, nint valueCallBacks);

    /// <summary><c>void CFRelease(CFTypeRef cf)</c>; crashes on NULL, so callers skip zero.</summary>
    [LibraryImport(CoreFoundationFramework)]
    internal static partial void CFRelease(nint cf);

    /// <summary><c>OSStatus SecRequirementCreateWithString(CFStringRef text, SecCSFlags flags, SecRequirementRef *requirement)</c> (SecRequirement.h).</summary>
    [LibraryImport(SecurityFramework)]
    internal static partial int SecRequirementCreateWithString(nint text, uint flags, nint* requirement);

    /// <summary>
    /// <c>OSStatus SecCodeCopyGuestWithAttributes(SecCodeRef host, CFDictionaryRef attributes, SecCSFlags flags, SecCodeRef *guest)</c>
    /// (SecCode.h); a NULL host asks the kernel, the root of trust. <c>guest</c> is left unchanged on failure.
    /// </summary>
    [LibraryImport(SecurityFramework)]
    internal static partial int SecCodeCopyGuestWithAttributes(nint host, nint attributes, uint flags, nint* guest);

    /// <summary>
    /// <c>OSStatus SecCodeCheckValidity(SecCodeRef code, SecCSFlags flags, SecRequirementRef requirement)</c> (SecCode.h):
    /// the signature, the code's dynamic validity as its host reports it, then the requirement; "secure against
    /// attempts to modify the file system source of the code object".
    /// </summary>
    [LibraryImport(SecurityFramework)]
    internal static partial int SecCodeCheckValidity(nint code, uint flags, nint requirement);

    /// <summary>Releases a CF object unless it is NULL (never created, or a failed call left it unset).</summary>
    internal static void Release(nint cf)
    {
        if (cf != 0)
        {
            CFRelease(cf);
        }
    }

    private static nint Export(ref nint cache, string library, string symbol)
    {
        var address = Volatile.Read(ref cache);
        if (address == 0)
        {
            // Load is reference-counted and returns the same handle every time, so two threads racing here only
            // look the symbol up twice; the framework stays loaded for the life of the process, as system frameworks do.
            var handle = NativeLibrary.Load(library);
            if (!NativeLibrary.TryGetExport(handle, symbol, out address))
            {
                throw new PlatformNotSupportedException($"{library} does not export '{symbol}'; this macOS cannot check a peer's code signature (UnixSocketTransportOptions.PeerCodeRequirement).");
            }

            Volatile.Write(ref cache, address);
        }

        return address;
    }
}
