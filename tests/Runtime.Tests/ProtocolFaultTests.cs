using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;
using Sandgrain.TestActors;
using Sandgrain.Transport;
using Sandgrain.Transport.SharedMemory;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// A hand-written peer talks to a TestSilo process: framing damage closes that one connection, a body that
/// does not decode fails that one call, and the silo keeps serving everyone else.
/// </summary>
public abstract class ProtocolFaultTests(SiloFixture silo)
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FrameOfUnknownKind_ClosesThatConnection_OthersAreServed()
    {
        await using var raw = await ConnectRawAsync();
        raw.Transport.Output.Write(new byte[] { 1, 0, 0, 0, 0xEE });
        await raw.Transport.Output.FlushAsync(Token);
        await AssertClosedAsync(raw);
        Assert.Equal(1, await silo.Factory.GetGrain<ICounterActor>(Guid.NewGuid().ToString("N")).Add(1));
    }

    [Fact]
    public async Task FourGigabyteLengthPrefix_ClosesAtOnce_WithoutWaitingForTheBytes()
    {
        await using var raw = await ConnectRawAsync();
        raw.Transport.Output.Write(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, (byte)FrameKind.Request });
        await raw.Transport.Output.FlushAsync(Token);
        await AssertClosedAsync(raw);
    }

    [Fact]
    public async Task DamagedRequestHeader_ClosesThatConnection()
    {
        await using var raw = await ConnectRawAsync();
        Protocol.WriteFrame(raw.Transport.Output, FrameKind.Request, [0x93, 0x01], default);
        await raw.Transport.Output.FlushAsync(Token);
        await AssertClosedAsync(raw);
    }

    [Fact]
    public async Task BodyThatDoesNotDecode_FailsThatCall_AndTheConnectionCarriesOn()
    {
        await using var raw = await ConnectRawAsync();
        var info = ActorTypeRegistry.Find(typeof(ICounterActor))!;
        var add = info.Methods.Single(m => m.Name == "Add");

        // Arguments that are not a MessagePack array of one int.
        await SendRequestAsync(raw, 7, info.Name, "fault", add.Id, [0xC1, 0xC1, 0xC1]);
        var (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(FrameKind.Error, kind);
        var error = Protocol.DecodeError(new ReadOnlySequence<byte>(payload));
        Assert.Equal(7ul, error.Correlation);
        Assert.Equal(ErrorKind.BadRequestBody, error.Kind);
        Assert.Contains("could not be decoded", error.Message, StringComparison.Ordinal);

        // The same connection still answers a good request.
        using var args = PooledBuffer.Rent();
        var writer = args.CreateWriter();
        writer.WriteArrayHeader(1);
        writer.Write(5);
        writer.Flush();
        await SendRequestAsync(raw, 8, info.Name, "fault", add.Id, args.WrittenMemory.ToArray());
        (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(FrameKind.Response, kind);
        Assert.Equal(8ul, Protocol.DecodeId(new ReadOnlySequence<byte>(payload), out var result));
        Assert.Equal(5, Serializer.ReadResult<int>(result.ToArray()));
    }

    [Fact]
    public async Task UnknownMethodAndUnhostedType_FailTheCall_NotTheConnection()
    {
        await using var raw = await ConnectRawAsync();
        await SendRequestAsync(raw, 1, typeof(ICounterActor).FullName!, "x", 0xDEADBEEF, [0x90]);
        var (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(FrameKind.Error, kind);
        Assert.Equal(ErrorKind.UnknownMethod, Protocol.DecodeError(new ReadOnlySequence<byte>(payload)).Kind);

        await SendRequestAsync(raw, 2, "No.Such.IActor", "x", 1, [0x90]);
        (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(ErrorKind.NotHosted, Protocol.DecodeError(new ReadOnlySequence<byte>(payload)).Kind);
    }

    [Fact]
    public async Task RequestWithADeadlineOverTheLimit_IsRefusedNamingIt_AndTheConnectionCarriesOn()
    {
        await using var raw = await ConnectRawAsync();
        var info = ActorTypeRegistry.Find(typeof(ICounterActor))!;
        var add = info.Methods.Single(m => m.Name == "Add");
        using var args = PooledBuffer.Rent();
        var writer = args.CreateWriter();
        writer.WriteArrayHeader(1);
        writer.Write(3);
        writer.Flush();

        // uint.MaxValue ms is past what a timer can wait: the silo must answer, not throw before it has a slot's try.
        await SendRequestAsync(raw, 21, info.Name, "deadline", add.Id, args.WrittenMemory.ToArray(), uint.MaxValue);
        var (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(FrameKind.Error, kind);
        var error = Protocol.DecodeError(new ReadOnlySequence<byte>(payload));
        Assert.Equal(21ul, error.Correlation);
        Assert.Equal(ErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("ActorCall.MaxTimeout", error.Message, StringComparison.Ordinal);

        await SendRequestAsync(raw, 22, info.Name, "deadline", add.Id, args.WrittenMemory.ToArray());
        (kind, payload) = await ReadFrameAsync(raw);
        Assert.Equal(FrameKind.Response, kind);
        Assert.Equal(22ul, Protocol.DecodeId(new ReadOnlySequence<byte>(payload), out _));
    }

    [Fact]
    public async Task PeerThatClosesMidFrame_IsDropped_AndTheSiloCarriesOn()
    {
        await using (var raw = await ConnectRawAsync())
        {
            raw.Transport.Output.Write(new byte[] { 100, 0, 0, 0, (byte)FrameKind.Request, 1, 2, 3 });
            await raw.Transport.Output.FlushAsync(Token);
        }

        Assert.Equal(2, await silo.Factory.GetGrain<ICounterActor>(Guid.NewGuid().ToString("N")).Add(2));
    }

    private Task<ConnectionContext> ConnectRawAsync() => ConnectAuthenticatedAsync(silo);

    /// <summary>Connects to the silo and exchanges hellos, claiming a fresh silo id (or <paramref name="claimedId"/>) and nonce (or <paramref name="nonce"/>).</summary>
    internal static async Task<RawHello> OpenRawAsync(SiloFixture silo, string? claimedId = null, byte[]? nonce = null)
    {
        var connection = await ConnectTransportAsync(silo);
        var ownId = claimedId ?? SiloRecord.NewSiloId();
        var ownNonce = nonce ?? Sandgrain.Runtime.Security.GroupSecret.NewNonce();
        Protocol.WriteFrame(connection.Transport.Output, FrameKind.Hello, Protocol.EncodeHello(ownId, ownNonce), default);
        await connection.Transport.Output.FlushAsync(Token);
        var (kind, payload) = await ReadFrameAsync(connection);
        Assert.Equal(FrameKind.Hello, kind);
        var (siloId, siloNonce) = Protocol.DecodeHello(new ReadOnlySequence<byte>(payload));
        return new RawHello(connection, siloId, siloNonce, ownId, ownNonce);
    }

    /// <summary>A transport connection to the silo's listener, with nothing sent on it yet.</summary>
    internal static async Task<ConnectionContext> ConnectTransportAsync(SiloFixture silo)
    {
        using var registry = new SiloRegistry(silo.Container.Container);
        var record = registry.LiveSilos().Single(r => r.ProcessId == silo.SiloProcessId);
        ISandgrainTransport transport = silo.TransportScheme == "shm"
            ? new SharedMemoryTransport(silo.Container.Container)
            : new UnixSocketTransport(silo.Container.Container);
        return await transport.ConnectAsync(transport.CreateEndPoint(TransportAddress.Parse(record.Addresses.Single(a => a.StartsWith(silo.TransportScheme + ":", StringComparison.Ordinal)))), Token);
    }

    /// <summary>Connects and completes the handshake (hello and proof) as a group member would.</summary>
    internal static async Task<ConnectionContext> ConnectAuthenticatedAsync(SiloFixture silo)
    {
        var hello = await OpenRawAsync(silo);
        var connection = hello.Connection;
        Protocol.WriteFrame(connection.Transport.Output, FrameKind.Proof, hello.InitiatorProof(Sandgrain.Runtime.Security.GroupSecret.LoadOrCreate(silo.Container.Container)), default);
        await connection.Transport.Output.FlushAsync(Token);
        var (kind, _) = await ReadFrameAsync(connection);
        Assert.Equal(FrameKind.Proof, kind);
        return connection;
    }

    internal static async Task SendRequestAsync(ConnectionContext connection, ulong correlation, string @interface, string key, uint method, byte[] arguments, uint timeoutMs = 10_000)
    {
        using var header = PooledBuffer.Rent();
        Protocol.EncodeRequest(header, new RequestHeader(correlation, RequestFlags.None, timeoutMs, @interface, key, method, [], null));
        Protocol.WriteFrame(connection.Transport.Output, FrameKind.Request, header.WrittenMemory.Span, arguments);
        await connection.Transport.Output.FlushAsync(Token);
    }

    internal static async Task<(FrameKind Kind, byte[] Payload)> ReadFrameAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            var buffer = result.Buffer;
            if (Protocol.TryReadFrame(ref buffer, 1 << 20, out var kind, out var payload))
            {
                var bytes = payload.ToArray();
                input.AdvanceTo(buffer.Start);
                return (kind, bytes);
            }

            Assert.False(result.IsCompleted, "the silo closed the connection");
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    internal static async Task AssertClosedAsync(ConnectionContext connection)
    {
        try
        {
            while (true)
            {
                var result = await connection.Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
                connection.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (ConnectionResetException)
        {
            // Closed with a reset: also closed.
        }
    }
}

public sealed class UnixProtocolFaultTests(UnixSiloFixture silo) : ProtocolFaultTests(silo), IClassFixture<UnixSiloFixture>;

public sealed class SharedMemoryProtocolFaultTests(SharedMemorySiloFixture silo) : ProtocolFaultTests(silo), IClassFixture<SharedMemorySiloFixture>;

/// <summary>A raw connection to a silo after the hellos: who each side said it is, and the nonces.</summary>
internal sealed record RawHello(ConnectionContext Connection, string SiloId, byte[] SiloNonce, string OwnId, byte[] OwnNonce)
{
    /// <summary>The proof a group member dialling the silo sends.</summary>
    internal byte[] InitiatorProof(Sandgrain.Runtime.Security.GroupSecret secret) =>
        secret.Proof(Sandgrain.Runtime.Security.HandshakeRole.Initiator, OwnId, OwnNonce, SiloId, SiloNonce);
}
