using System.Security.Cryptography;
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
        var (raw, siloNonce, ownId) = await ProtocolFaultTests.OpenRawAsync(silo);
        await using (raw)
        {
            var wrong = new byte[32];
            RandomNumberGenerator.Fill(wrong);
            var proof = HMACSHA256.HashData(wrong, siloNonce.Concat(System.Text.Encoding.ASCII.GetBytes(ownId)).ToArray());
            Protocol.WriteFrame(raw.Transport.Output, FrameKind.Proof, proof, default);

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
        var (raw, _, _) = await ProtocolFaultTests.OpenRawAsync(silo);
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
        var (first, firstNonce, firstId) = await ProtocolFaultTests.OpenRawAsync(silo);
        var recorded = secret.Proof(firstNonce, firstId);
        await first.DisposeAsync();

        // ...is worth nothing on the next one, whose nonce is fresh, even from a peer claiming the same id.
        var (raw, _, _) = await ProtocolFaultTests.OpenRawAsync(silo);
        await using (raw)
        {
            Protocol.WriteFrame(raw.Transport.Output, FrameKind.Proof, recorded, default);
            await SendAddAsync(raw, key);
            await ProtocolFaultTests.AssertClosedAsync(raw);
        }

        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>(key).Get());
    }

    [Fact]
    public void Secret_Is32Bytes_Mode0600_AndSharedByTheGroup()
    {
        var path = Path.Combine(silo.Container.Container.SandgrainPath, "secret");
        Assert.Equal(32, new FileInfo(path).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var a = GroupSecret.LoadOrCreate(silo.Container.Container).Proof(new byte[16], "0123456789abcdef");
        var b = GroupSecret.LoadOrCreate(silo.Container.Container).Proof(new byte[16], "0123456789abcdef");
        Assert.Equal(a, b);

        using var other = new TestContainer();
        Assert.NotEqual(a, GroupSecret.LoadOrCreate(other.Container).Proof(new byte[16], "0123456789abcdef"));
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
