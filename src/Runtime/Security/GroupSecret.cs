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
    internal const int NonceLength = 16;
    private const string FileName = "secret";
    private static readonly byte[] s_label = Encoding.ASCII.GetBytes("sandgrain-hello-proof-v1");

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

    /// <summary>The proof a silo sends: HMAC-SHA256 over a label, the peer's nonce and the sender's silo id.</summary>
    internal byte[] Proof(ReadOnlySpan<byte> peerNonce, string senderSiloId)
    {
        var message = new byte[s_label.Length + peerNonce.Length + senderSiloId.Length];
        s_label.CopyTo(message, 0);
        peerNonce.CopyTo(message.AsSpan(s_label.Length));
        Encoding.ASCII.GetBytes(senderSiloId, message.AsSpan(s_label.Length + peerNonce.Length));
        return HMACSHA256.HashData(_key, message);
    }

    /// <summary>Checks a peer's proof in constant time.</summary>
    internal bool Verify(ReadOnlySpan<byte> proof, ReadOnlySpan<byte> ownNonce, string peerSiloId) =>
        CryptographicOperations.FixedTimeEquals(proof, Proof(ownNonce, peerSiloId));
}
