using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.UnixSocket.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// The macOS code requirement that the process at the other end of a Unix socket must satisfy
/// (<see cref="UnixSocketTransportOptions.PeerCodeRequirement"/>): compiled once when the transport is created, then
/// checked for every accepted and connected socket after the uid check.
/// </summary>
/// <remarks>
/// <para>
/// The check follows sandbox-facts §4.4 "Peer credentials and code-signature checks" and "Security of peers"
/// item 12: the peer's <c>audit_token_t</c> from <c>getsockopt(SOL_LOCAL, LOCAL_PEERTOKEN)</c>, wrapped as
/// <c>{ kSecGuestAttributeAudit: CFData }</c>, gives the peer's running code with
/// <c>SecCodeCopyGuestWithAttributes</c>; <c>SecCodeCheckValidity</c> then checks its signature, its dynamic
/// validity and the requirement. The token, unlike a pid, carries the pid version, so a process that exited and
/// whose pid was reused is not mistaken for the peer.
/// </para>
/// <para>
/// The token is computed when it is queried, from the socket's last user (§4.4), so the check runs right
/// after accept/connect. A peer that connects and then <c>exec</c>s other code is not caught by it; item 12's
/// nonce round-trip would be the answer if that is in the threat model, and it belongs above the transport.
/// </para>
/// <para>
/// The parts that need no Security framework (the token's layout, the messages, refusing the option off macOS)
/// are plain functions, so that they are tested on Linux too.
/// </para>
/// </remarks>
internal sealed class CodeSigningRequirement
{
    /// <summary>CSCommon.h: "code failed to satisfy specified code requirement(s)".</summary>
    internal const int ErrSecCSReqFailed = -67050;

    internal const string OptionName = nameof(UnixSocketTransportOptions) + "." + nameof(UnixSocketTransportOptions.PeerCodeRequirement);

    internal const string Example = "anchor apple generic and certificate leaf[subject.OU] = \"TEAMID\"";

    // macOS XNU bsd/sys/un.h: SOL_LOCAL 0, LOCAL_PEERTOKEN 6 -> audit_token_t (sandbox-facts §4.4).
    private const int MacSolLocal = 0;
    private const int MacLocalPeerToken = 6;

    // The Code Signing results a peer check or a compile can plausibly give (values and meanings from CSCommon.h).
    private static readonly Dictionary<int, (string Name, string Meaning)> s_statuses = new()
    {
        [ErrSecCSReqFailed] = ("errSecCSReqFailed", "the code does not satisfy the requirement"),
        [-67051] = ("errSecCSReqUnsupported", "unsupported type or version of code requirement"),
        [-67052] = ("errSecCSReqInvalid", "invalid or corrupted code requirement"),
        [-67034] = ("errSecCSStaticCodeChanged", "the code on disk does not match what is running"),
        [-67048] = ("errSecCSInternalError", "internal error in the Code Signing subsystem"),
        [-67060] = ("errSecCSSignatureNotVerifiable", "the code cannot be read by the verifier"),
        [-67061] = ("errSecCSSignatureFailed", "invalid signature: the code or its signature has been modified"),
        [-67062] = ("errSecCSUnsigned", "the code is not signed at all"),
        [-67063] = ("errSecCSGuestInvalid", "the code's identity has been invalidated"),
        [-67065] = ("errSecCSNoSuchCode", "no running code has this audit token (the peer may have exited)"),
        [-67066] = ("errSecCSInvalidAttributeValues", "the audit token was not accepted as a guest attribute"),
        [-67067] = ("errSecCSUnsupportedGuestAttributes", "the kernel cannot locate code by audit token"),
    };

    // A RequirementHandle; typed as its base so that this macOS-only type appears in macOS-only code alone.
    private readonly SafeHandle _requirement;

    private CodeSigningRequirement(string text, SafeHandle requirement)
    {
        Text = text;
        _requirement = requirement;
    }

    /// <summary>The requirement as configured, for messages.</summary>
    internal string Text { get; }

    /// <summary>
    /// The compiled requirement, or null when none is configured. Off macOS a requirement is refused, because the
    /// check cannot be made there; failing at configuration time is better than every connection failing later.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">A requirement is set and this is not macOS.</exception>
    /// <exception cref="ArgumentException">The requirement does not compile.</exception>
    internal static CodeSigningRequirement? Create(string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (OperatingSystem.IsMacOS())
        {
            return Compile(text);
        }

        throw new PlatformNotSupportedException(NotSupportedMessage(text));
    }

    /// <summary>
    /// Checks the peer of a connected or accepted socket against the requirement.
    /// </summary>
    /// <exception cref="UnauthorizedAccessException">The peer does not satisfy the requirement, or its code could not be checked.</exception>
    /// <exception cref="SocketException">The peer's audit token could not be read (the peer is gone).</exception>
    internal void Check(Socket socket, PeerIdentity peer, string address)
    {
        if (OperatingSystem.IsMacOS())
        {
            CheckOnMacOS(socket, peer, address);
            return;
        }

        // Unreachable: Create refuses a requirement off macOS.
        throw new PlatformNotSupportedException(NotSupportedMessage(Text));
    }

    /// <summary>The refusal of the option off macOS.</summary>
    internal static string NotSupportedMessage(string text) =>
        $"{OptionName} is set to '{text}', but checking a peer's code signature needs macOS (audit tokens and the Security framework); this is {RuntimeInformation.OSDescription}. Leave {OptionName} null on other systems.";

    /// <summary>The refusal of a requirement that <c>SecRequirementCreateWithString</c> does not compile.</summary>
    internal static string CompileFailureMessage(string text, int status) =>
        $"{OptionName} '{text}' is not a valid code requirement: SecRequirementCreateWithString returned {DescribeStatus(status)}. Write it in Apple's code requirement language (see 'man csreq'), for example: {Example}";

    /// <summary>The refusal of a peer: which call failed with which status, for which pid and requirement.</summary>
    internal static string RefusalMessage(string address, int? peerPid, string requirement, string call, int status)
    {
        var pid = peerPid?.ToString(CultureInfo.InvariantCulture) ?? "unknown";
        return $"Refused the peer of {address} (pid {pid}): {call} returned {DescribeStatus(status)}; {OptionName} requires '{requirement}'.";
    }

    /// <summary>An OSStatus with its CSCommon.h name and meaning when it is a Code Signing result this check can give.</summary>
    internal static string DescribeStatus(int status) =>
        s_statuses.TryGetValue(status, out var known)
            ? string.Create(CultureInfo.InvariantCulture, $"{known.Name} (OSStatus {status}: {known.Meaning})")
            : string.Create(CultureInfo.InvariantCulture, $"OSStatus {status}");

    [SupportedOSPlatform("macos")]
    private static unsafe CodeSigningRequirement Compile(string text)
    {
        // Resolve the data symbols now, so that a system lacking them is a configuration error, not a refusal of every peer.
        _ = SecurityNative.GuestAttributeAudit;
        _ = SecurityNative.TypeDictionaryKeyCallBacks;
        _ = SecurityNative.TypeDictionaryValueCallBacks;

        nint cfText = 0;
        try
        {
            fixed (char* chars = text)
            {
                cfText = SecurityNative.CFStringCreateWithCharacters(0, chars, text.Length);
            }

            if (cfText == 0)
            {
                throw new InvalidOperationException($"CFStringCreateWithCharacters returned NULL for {OptionName} (out of memory).");
            }

            nint requirement = 0;
            var status = SecurityNative.SecRequirementCreateWithString(cfText, SecurityNative.SecCSDefaultFlags, &requirement);
            if (status != SecurityNative.ErrSecSuccess || requirement == 0)
            {
                SecurityNative.Release(requirement);
                throw new ArgumentException(CompileFailureMessage(text, status), nameof(UnixSocketTransportOptions.PeerCodeRequirement));
            }

            return new CodeSigningRequirement(text, RequirementHandle.Own(requirement));
        }
        finally
        {
            SecurityNative.Release(cfText);
        }
    }

    [SupportedOSPlatform("macos")]
    private unsafe void CheckOnMacOS(Socket socket, PeerIdentity peer, string address)
    {
        Span<byte> bytes = stackalloc byte[AuditToken.Size];
        var length = socket.GetRawSocketOption(MacSolLocal, MacLocalPeerToken, bytes);
        if (!AuditToken.TryRead(bytes[..length], out var token))
        {
            throw new UnauthorizedAccessException($"Refused the peer of {address} (pid {peer.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}): LOCAL_PEERTOKEN returned {length} bytes, not the {AuditToken.Size} of an audit_token_t, so {OptionName} '{Text}' could not be checked.");
        }

        // The credentials' pid and the token's are the socket's same last user (§4.4); the token's stands in when the credentials had none.
        var pid = peer.ProcessId ?? token.ProcessId;
        nint data = 0;
        nint attributes = 0;
        nint code = 0;
        try
        {
            data = SecurityNative.CFDataCreate(0, (byte*)&token, AuditToken.Size);
            if (data == 0)
            {
                throw NotChecked(address, pid, "CFDataCreate");
            }

            var key = SecurityNative.GuestAttributeAudit;
            var value = data;
            attributes = SecurityNative.CFDictionaryCreate(0, &key, &value, 1, SecurityNative.TypeDictionaryKeyCallBacks, SecurityNative.TypeDictionaryValueCallBacks);
            if (attributes == 0)
            {
                throw NotChecked(address, pid, "CFDictionaryCreate");
            }

            // A NULL host asks the kernel, the root of trust, for the process with this token (SecCode.h).
            var status = SecurityNative.SecCodeCopyGuestWithAttributes(0, attributes, SecurityNative.SecCSDefaultFlags, &code);
            if (status != SecurityNative.ErrSecSuccess || code == 0)
            {
                throw new UnauthorizedAccessException(RefusalMessage(address, pid, Text, "SecCodeCopyGuestWithAttributes", status));
            }

            status = SecurityNative.SecCodeCheckValidity(code, SecurityNative.SecCSDefaultFlags, _requirement.DangerousGetHandle());
            GC.KeepAlive(_requirement);
            if (status != SecurityNative.ErrSecSuccess)
            {
                throw new UnauthorizedAccessException(RefusalMessage(address, pid, Text, "SecCodeCheckValidity", status));
            }
        }
        finally
        {
            SecurityNative.Release(code);
            SecurityNative.Release(attributes);
            SecurityNative.Release(data);
        }
    }

    private UnauthorizedAccessException NotChecked(string address, int pid, string call) =>
        new(string.Create(CultureInfo.InvariantCulture, $"Refused the peer of {address} (pid {pid}): {call} returned NULL (out of memory), so {OptionName} '{Text}' could not be checked."));

    /// <summary>
    /// Owns the compiled <c>SecRequirementRef</c>. The transport is not disposable and lives as long as its host, so
    /// the reference is released when the transport is collected, by the handle's finalizer.
    /// </summary>
    [SupportedOSPlatform("macos")]
    private sealed class RequirementHandle : SafeHandle
    {
        // Parameterless, as SafeHandle types are expected to have (CA1419); Own sets the reference.
        public RequirementHandle()
            : base(0, ownsHandle: true)
        {
        }

        internal static RequirementHandle Own(nint requirement)
        {
            var owned = new RequirementHandle();
            owned.SetHandle(requirement);
            return owned;
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            SecurityNative.CFRelease(handle);
            return true;
        }
    }
}
