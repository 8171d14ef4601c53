using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Sandgrain.Runtime.Messaging;

/// <summary>The hello each side sends first (see <see cref="Protocol"/>'s remarks for its fields).</summary>
internal static partial class Protocol
{
    internal static byte[] EncodeHello(string siloId, ReadOnlySpan<byte> nonce)
    {
        var hello = new byte[4 + 2 + 2 + 16 + 2 + nonce.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(4), Version);
        Encoding.ASCII.GetBytes(siloId, hello.AsSpan(8, 16));
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(24), (ushort)nonce.Length);
        nonce.CopyTo(hello.AsSpan(26));
        return hello;
    }

    /// <summary>Decodes a hello; returns the peer's silo id and nonce.</summary>
    /// <exception cref="ProtocolViolationException">Not a Sandgrain hello, another protocol version, or malformed.</exception>
    internal static (string SiloId, byte[] Nonce) DecodeHello(ReadOnlySequence<byte> payload)
    {
        if (payload.Length is < 26 or > MaxHelloPayload)
        {
            throw new ProtocolViolationException($"a hello of {payload.Length} bytes (expected 26 to {MaxHelloPayload})");
        }

        var bytes = payload.ToArray();
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        if (magic != Magic)
        {
            throw new ProtocolViolationException($"a hello with magic 0x{magic:x8} (expected 0x{Magic:x8}): the peer is not a Sandgrain silo");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(4));
        if (version != Version)
        {
            throw new ProtocolViolationException($"protocol version {version}; this build speaks {Version}");
        }

        var siloId = Encoding.ASCII.GetString(bytes, 8, 16);
        if (!Discovery.SiloRecord.IsValidSiloId(siloId))
        {
            throw new ProtocolViolationException("a hello with a malformed silo id");
        }

        var nonceLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(24));
        if (nonceLength != Security.GroupSecret.NonceLength || 26 + nonceLength != bytes.Length)
        {
            throw new ProtocolViolationException($"a hello with a {nonceLength}-byte nonce in {bytes.Length} bytes (expected {Security.GroupSecret.NonceLength} in {26 + Security.GroupSecret.NonceLength})");
        }

        return (siloId, bytes[26..]);
    }
}
