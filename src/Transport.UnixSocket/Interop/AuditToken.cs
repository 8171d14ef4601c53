using System.Runtime.InteropServices;

namespace Sandgrain.Transport.UnixSocket.Interop;

/// <summary>
/// <c>audit_token_t</c>: <c>unsigned int val[8]</c>, 32 bytes (XNU <c>osfmk/mach/message.h</c>; sandbox-facts §4.4),
/// as <c>getsockopt(SOL_LOCAL, LOCAL_PEERTOKEN)</c> returns it for the peer of a Unix socket. The kernel fills it in
/// <c>proc_calc_audit_token</c>: [1] effective uid, [5] pid, [7] pid version (the rest: audit user id, gid, real
/// uid/gid, audit session). Passed to the Security framework as opaque bytes; the pid is read only for messages.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct AuditToken
{
    /// <summary>The size of <c>audit_token_t</c>, which <c>LOCAL_PEERTOKEN</c> must return in full.</summary>
    internal const int Size = 32;

    public uint Val0;
    public uint Val1;
    public uint Val2;
    public uint Val3;
    public uint Val4;
    public uint Val5;
    public uint Val6;
    public uint Val7;

    public readonly uint EffectiveUserId => Val1;

    public readonly int ProcessId => unchecked((int)Val5);

    public readonly uint ProcessIdVersion => Val7;

    /// <summary>Reads a token from the bytes <c>getsockopt</c> returned; false unless they are exactly <see cref="Size"/> bytes.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> bytes, out AuditToken token)
    {
        // A short answer would leave words of the token zero, and a zero token names the kernel: refuse it rather than guess.
        if (bytes.Length != Size)
        {
            token = default;
            return false;
        }

        token = MemoryMarshal.Read<AuditToken>(bytes);
        return true;
    }
}
