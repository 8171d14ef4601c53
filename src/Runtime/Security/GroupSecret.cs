using System.Security.Cryptography;
using System.Text;
using Sandgrain.Transport;

namespace Sandgrain.Runtime.Security;

/// <summary>
/// The app group's shared secret, <c>.sandgrain/secret</c>: 32 random bytes, mode 0600, created once and
/// atomically by whichever process needs it first. Only processes that can read the group container know it,
/// so proving knowledge of it in the handshake proves membership of the group.
/// </summary>
internal sealed class GroupSecret
{
    internal const int Length = 32;
    internal const int NonceLength = 32;
    internal const int ProofLength = 32;
    private const string FileName = "secret";
    private static readonly byte[] s_label = Encoding.ASCII.GetBytes("sandgrain-hello-proof-v2");

    private readonly byte[] _key;

    private GroupSecret(byte[] key)
    {
        _key = key;
    }

    /// <summary>Reads the secret, creating it if no process has yet.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not a 32-byte secret.</exception>
    internal static GroupSecret LoadOrCreate(GroupContainer container)
    {
        var path = Path.Combine(container.SandgrainPath, FileName);
        if (!File.Exists(path))
        {
            GroupContainer.CreatePrivateFolder(container.SandgrainPath);
            var temp = Path.Combine(container.SandgrainPath, $".secret.{Environment.ProcessId}.{Guid.NewGuid():N}");
            using (var file = new FileStream(temp, PrivateFile.Options(FileMode.CreateNew, FileAccess.Write)))
            {
                file.Write(RandomNumberGenerator.GetBytes(Length));
            }

            try
            {
                // Whoever renames first wins; everyone then reads the same file.
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temp);
            }
        }

        var key = File.ReadAllBytes(path);
        if (key.Length != Length)
        {
            throw new InvalidDataException($"The group secret '{path}' is {key.Length} bytes, not {Length}; remove it so that a new one is made (every process of the group must then restart).");
        }

        return new GroupSecret(key);
    }

    internal static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceLength);

    /// <summary>
    /// The proof one side of a handshake sends: HMAC-SHA256 over a label, the side it speaks for, and the whole
    /// exchange — the initiator's silo id and nonce, then the acceptor's. Binding the role and both nonces makes a
    /// proof good for one direction of one connection only: a silo's proof cannot be reflected back to it, nor
    /// relayed from a connection an attacker opened to a connection the attacker accepts or opens elsewhere.
    /// </summary>
    internal byte[] Proof(HandshakeRole role, string initiatorSiloId, ReadOnlySpan<byte> initiatorNonce, string acceptorSiloId, ReadOnlySpan<byte> acceptorNonce)
    {
        var length = s_label.Length + 1 + (1 + initiatorSiloId.Length + initiatorNonce.Length) + (1 + acceptorSiloId.Length + acceptorNonce.Length);
        var message = new byte[length];
        var at = 0;
        s_label.CopyTo(message, at);
        at += s_label.Length;
        message[at++] = (byte)role;
        at += Field(message.AsSpan(at), initiatorSiloId, initiatorNonce);
        Field(message.AsSpan(at), acceptorSiloId, acceptorNonce);
        return HMACSHA256.HashData(_key, message);

        // A length byte before each id, so that no two different exchanges encode to the same message.
        static int Field(Span<byte> into, string siloId, ReadOnlySpan<byte> nonce)
        {
            into[0] = checked((byte)siloId.Length);
            var idLength = Encoding.ASCII.GetBytes(siloId, into[1..]);
            nonce.CopyTo(into[(1 + idLength)..]);
            return 1 + idLength + nonce.Length;
        }
    }

    /// <summary>Checks a peer's proof in constant time.</summary>
    internal bool Verify(ReadOnlySpan<byte> proof, HandshakeRole role, string initiatorSiloId, ReadOnlySpan<byte> initiatorNonce, string acceptorSiloId, ReadOnlySpan<byte> acceptorNonce) =>
        proof.Length == ProofLength && CryptographicOperations.FixedTimeEquals(proof, Proof(role, initiatorSiloId, initiatorNonce, acceptorSiloId, acceptorNonce));
}

/// <summary>The side of a handshake a proof speaks for.</summary>
internal enum HandshakeRole : byte
{
    /// <summary>The side that dialled the connection; it proves itself first.</summary>
    Initiator = 1,

    /// <summary>The side that accepted it; it proves itself only to an initiator whose proof checked out.</summary>
    Acceptor = 2,
}
