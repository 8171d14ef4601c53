using System.Buffers;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Runtime.Security;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests;

/// <summary>No process that cannot prove it knows the group secret runs actor code.</summary>
public abstract class GroupAuthTests(SiloFixture silo)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PeerWithTheWrongSecret_IsClosed_AndNoActorCodeRuns()
    {
        var key = "auth-" + Guid.NewGuid().ToString("N")[..8];
        var hello = await ProtocolFaultTests.OpenRawAsync(silo);
        var raw = hello.Connection;
        await using (raw)
        {
            // A well-formed proof of the right exchange, made with another group's secret.
            using var other = new TestContainer();
            Protocol.WriteFrame(raw.Transport.Output, FrameKind.Proof, hello.InitiatorProof(GroupSecret.LoadOrCreate(other.Container)), default);

            // A request right behind it must not run.
            await SendAddAsync(raw, key);
            await ProtocolFaultTests.AssertClosedAsync(raw);
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public async Task RequestInsteadOfAProof_IsClosed_AndNoActorCodeRuns()
    {
        var key = "auth-" + Guid.NewGuid().ToString("N")[..8];
        var raw = (await ProtocolFaultTests.OpenRawAsync(silo)).Connection;
        await using (raw)
        {
            await SendAddAsync(raw, key);
            await ProtocolFaultTests.AssertClosedAsync(raw);
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public async Task ProofReplayedFromAnotherConnection_IsClosed_AndNoActorCodeRuns()
    {
        var key = "auth-" + Guid.NewGuid().ToString("N")[..8];
        var secret = GroupSecret.LoadOrCreate(silo.Container.Container);

        // A proof that was good on one connection (for that connection's nonce and silo id)...
        var first = await ProtocolFaultTests.OpenRawAsync(silo);
        var recorded = first.InitiatorProof(secret);
        await first.Connection.DisposeAsync();

        // ...is worth nothing on the next one, whose nonce is fresh, even from a peer claiming the same id and nonce.
        var raw = (await ProtocolFaultTests.OpenRawAsync(silo, first.OwnId, first.OwnNonce)).Connection;
        await using (raw)
        {
            Protocol.WriteFrame(raw.Transport.Output, FrameKind.Proof, recorded, default);
            await SendAddAsync(raw, key);
            await ProtocolFaultTests.AssertClosedAsync(raw);
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public async Task ProofRelayedFromTheSilosOwnHandshake_ClaimingItsId_IsRefused_AndNoActorCodeRuns()
    {
        // The attack on the first proof design (an HMAC over the peer's nonce and the sender's id, sent before the
        // peer's was checked): with no secret, claim the silo's own id on connection 1; hand the silo the nonce it
        // sent there as our nonce on connection 2; the silo signs it and sends that back; replay it on connection 1.
        var key = "relay-" + Guid.NewGuid().ToString("N")[..8];
        var probe = await ProtocolFaultTests.OpenRawAsync(silo);
        var siloId = probe.SiloId;
        await probe.Connection.DisposeAsync();
        var victim = await ProtocolFaultTests.OpenRawAsync(silo, claimedId: siloId);
        await using (victim.Connection)
        {
            var signer = await ProtocolFaultTests.OpenRawAsync(silo, nonce: victim.SiloNonce);
            await using (signer.Connection)
            {
                var signed = await ReadProofWithinAsync(signer.Connection, TimeSpan.FromSeconds(1));
                Assert.Null(signed);
                await SendProofAndAddAsync(victim.Connection, signed ?? new byte[GroupSecret.ProofLength], key);
                await ProtocolFaultTests.AssertClosedAsync(victim.Connection);
            }
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public async Task ProofRelayedBetweenTwoConnections_UnderAnotherId_GetsNothingToRelay_AndNoActorCodeRuns()
    {
        // The same relay without claiming the silo's id: the silo, accepting, proves itself to nobody who has not
        // proven itself first, so the second connection yields no proof for the first.
        var key = "relay-" + Guid.NewGuid().ToString("N")[..8];
        var victim = await ProtocolFaultTests.OpenRawAsync(silo);
        await using (victim.Connection)
        {
            var signer = await ProtocolFaultTests.OpenRawAsync(silo, nonce: victim.SiloNonce);
            await using (signer.Connection)
            {
                Assert.Null(await ReadProofWithinAsync(signer.Connection, TimeSpan.FromSeconds(1)));
            }

            // Reflecting the silo's hello back at it (its own id and nonce) fails the same way.
            var mirror = await ProtocolFaultTests.OpenRawAsync(silo, claimedId: victim.SiloId, nonce: victim.SiloNonce);
            await using (mirror.Connection)
            {
                await ProtocolFaultTests.AssertClosedAsync(mirror.Connection);
            }

            await SendProofAndAddAsync(victim.Connection, new byte[GroupSecret.ProofLength], key);
            await ProtocolFaultTests.AssertClosedAsync(victim.Connection);
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public void Proofs_BindTheRoleBothIdsAndBothNonces()
    {
        var secret = GroupSecret.LoadOrCreate(silo.Container.Container);
        var (a, b) = ("0123456789abcdef", "fedcba9876543210");
        var (na, nb) = (GroupSecret.NewNonce(), GroupSecret.NewNonce());
        Assert.Equal(32, na.Length);
        var proof = secret.Proof(HandshakeRole.Initiator, a, na, b, nb);
        Assert.True(secret.Verify(proof, HandshakeRole.Initiator, a, na, b, nb));
        Assert.False(secret.Verify(proof, HandshakeRole.Acceptor, a, na, b, nb));
        Assert.False(secret.Verify(proof, HandshakeRole.Initiator, b, nb, a, na));
        Assert.False(secret.Verify(proof, HandshakeRole.Initiator, a, na, b, GroupSecret.NewNonce()));
        Assert.False(secret.Verify(proof, HandshakeRole.Initiator, a, GroupSecret.NewNonce(), b, nb));
        Assert.False(secret.Verify(proof, HandshakeRole.Initiator, "0123456789abcdee", na, b, nb));
        Assert.False(secret.Verify(proof.AsSpan(0, 31), HandshakeRole.Initiator, a, na, b, nb));
    }

    [Fact]
    public void Secret_Is32Bytes_Mode0600_AndSharedByTheGroup()
    {
        var path = Path.Combine(silo.Container.Container.SandgrainPath, "secret");
        Assert.Equal(32, new FileInfo(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var nonce = new byte[GroupSecret.NonceLength];
        var a = GroupSecret.LoadOrCreate(silo.Container.Container).Proof(HandshakeRole.Initiator, "0123456789abcdef", nonce, "fedcba9876543210", nonce);
        var b = GroupSecret.LoadOrCreate(silo.Container.Container).Proof(HandshakeRole.Initiator, "0123456789abcdef", nonce, "fedcba9876543210", nonce);
        Assert.Equal(a, b);

        using var other = new TestContainer();
        Assert.NotEqual(a, GroupSecret.LoadOrCreate(other.Container).Proof(HandshakeRole.Initiator, "0123456789abcdef", nonce, "fedcba9876543210", nonce));
    }

    /// <summary>A proof and a request right behind it, on a connection the silo may have closed already.</summary>
    private static async Task SendProofAndAddAsync(Microsoft.AspNetCore.Connections.ConnectionContext raw, byte[] proof, string key)
    {
        try
        {
            Protocol.WriteFrame(raw.Transport.Output, FrameKind.Proof, proof, default);
            await SendAddAsync(raw, key);
        }
        catch (Exception e) when (e is IOException or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException or InvalidOperationException)
        {
            // Closed already: what the test wants.
        }
    }

    /// <summary>The next frame if it is a proof that arrives within <paramref name="within"/>; null if none does (or the silo closes).</summary>
    private static async Task<byte[]?> ReadProofWithinAsync(Microsoft.AspNetCore.Connections.ConnectionContext connection, TimeSpan within)
    {
        var input = connection.Transport.Input;
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(Token);
        wait.CancelAfter(within);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(wait.Token);
                var buffer = result.Buffer;
                if (Protocol.TryReadFrame(ref buffer, 1 << 20, out var kind, out var payload))
                {
                    var bytes = payload.ToArray();
                    input.AdvanceTo(buffer.Start);
                    return kind == FrameKind.Proof ? bytes : null;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return null;
                }
            }
        }
        catch (OperationCanceledException) when (!Token.IsCancellationRequested)
        {
            return null;
        }
        catch (Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            return null;
        }
    }

    private static async Task SendAddAsync(Microsoft.AspNetCore.Connections.ConnectionContext raw, string key)
    {
        var info = ActorTypeRegistry.Find(typeof(ICounterActor))!;
        using var args = PooledBuffer.Rent();
        var writer = args.CreateWriter();
        writer.WriteArrayHeader(1);
        writer.Write(5);
        writer.Flush();
        await ProtocolFaultTests.SendRequestAsync(raw, 1, info.Name, key, info.Methods.Single(m => m.Name == "Add").Id, args.WrittenMemory.ToArray());
    }
}

public sealed class UnixGroupAuthTests(UnixSiloFixture silo) : GroupAuthTests(silo), IClassFixture<UnixSiloFixture>;

public sealed class SharedMemoryGroupAuthTests(SharedMemorySiloFixture silo) : GroupAuthTests(silo), IClassFixture<SharedMemorySiloFixture>;
