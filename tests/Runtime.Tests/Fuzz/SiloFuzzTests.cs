using System.Buffers;
using CsCheck;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;
using Sandgrain.TestActors;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests.Fuzz;

/// <summary>
/// Fuzzing a TestSilo process through real connections. The handshake: whatever a peer sends before proving
/// membership of the group, no actor code runs (a request sent after it never reaches its actor) and the silo
/// keeps serving. Request bodies: arbitrary argument bytes for real methods fail that one call at most; the
/// connection and the silo carry on.
/// </summary>
public sealed class UnixSiloFuzzTests(UnixSiloFixture silo, ITestOutputHelper output) : IClassFixture<UnixSiloFixture>
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Handshake_OnArbitraryBytes_NeverRunsActorCode_AndTheSiloCarriesOn()
    {
        var info = ActorTypeRegistry.Find(typeof(ICounterActor))!;
        var add = info.Methods.Single(m => m.Name == "Add");
        using var args = PooledBuffer.Rent();
        var w = args.CreateWriter();
        w.WriteArrayHeader(1);
        w.Write(1);
        w.Flush();
        using var request = PooledBuffer.Rent();
        Protocol.EncodeRequest(request, new RequestHeader(1, RequestFlags.None, 10_000, info.Name, "fuzz-unauthenticated", add.Id, [], null));
        var requestFrame = Frame(FrameKind.Request, [.. request.WrittenMemory.ToArray(), .. args.WrittenMemory.ToArray()]);
        var hello = Frame(FrameKind.Hello, Protocol.EncodeHello(SiloRecord.NewSiloId(), Security.GroupSecret.NewNonce()));
        var seeds = FuzzInputs.Corpus("handshake").Concat([hello, [.. hello, .. Frame(FrameKind.Proof, new byte[32])], [.. hello, .. Frame(FrameKind.Proof, new byte[31])]]).ToList();

        long executions = 0;
        await FuzzInputs.From(seeds).SampleAsync(
            async input =>
            {
                Interlocked.Increment(ref executions);
                await using var connection = await ProtocolFaultTests.ConnectTransportAsync(silo);
                try
                {
                    connection.Transport.Output.Write(input);
                    connection.Transport.Output.Write(requestFrame);
                    await connection.Transport.Output.FlushAsync(Token);
                    await DrainAsync(connection, TimeSpan.FromMilliseconds(100));
                }
                catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException)
                {
                    // The silo closed the connection on us: what it should do with garbage.
                }
            },
            iter: long.MaxValue,
            time: FuzzInputs.Seconds,
            threads: 2,
            print: input => Convert.ToHexString(input));

        output.WriteLine($"handshake: {executions} connections in {FuzzInputs.Seconds} s");
        output.WriteLine("silo stderr (last lines): " + string.Join("\n", silo.SiloStderr.Split('\n').TakeLast(15)));
        Assert.Equal(0, await silo.Factory.GetGrain<ICounterActor>("fuzz-unauthenticated").Get());
        Assert.Equal(1, await silo.Factory.GetGrain<ICounterActor>("fuzz-after-handshakes").Add(1));
    }

    [Fact]
    public async Task RequestBodies_OnArbitraryBytes_FailOneCallAtMost_AndTheConnectionCarriesOn()
    {
        var info = ActorTypeRegistry.Find(typeof(ICounterActor))!;
        var methods = info.Methods.Where(m => m.Name is "Add" or "Describe" or "Get" or "WhereAmI" or "Reset").ToArray();
        await using var connection = await ProtocolFaultTests.ConnectAuthenticatedAsync(silo);
        var seeds = FuzzInputs.Corpus("requests").Concat(
        [
            Arguments(1, (ref MessagePack.MessagePackWriter w) => w.Write(7)),
            Arguments(1, (ref MessagePack.MessagePackWriter w) => Serializer.Write(ref w, new DeviceInfo { Name = "cam", Opens = 2, Tags = ["a", "b"] })),
            Arguments(0, (ref MessagePack.MessagePackWriter w) => { }),
        ]).ToList();
        ulong correlation = 0;
        var kinds = new Dictionary<string, int>();

        var executions = FuzzInputs.Run(FuzzInputs.From(seeds, maxLength: 256), input =>
        {
            var method = methods[(int)(correlation % (ulong)methods.Length)];
            var id = ++correlation;
            ProtocolFaultTests.SendRequestAsync(connection, id, info.Name, "fuzz-body", method.Id, input).GetAwaiter().GetResult();
            var (kind, payload) = ProtocolFaultTests.ReadFrameAsync(connection).GetAwaiter().GetResult();
            var outcome = kind switch
            {
                FrameKind.Response => "response",
                FrameKind.Error => Protocol.DecodeError(new ReadOnlySequence<byte>(payload)) is var error && error.Kind == ErrorKind.Application ? "Application " + error.Type : error.Kind.ToString(),
                _ => throw new InvalidOperationException($"a {kind} frame in answer to a request"),
            };
            Assert.Equal(id, kind == FrameKind.Response ? Protocol.DecodeId(new ReadOnlySequence<byte>(payload), out _) : Protocol.DecodeError(new ReadOnlySequence<byte>(payload)).Correlation);
            // A body that decodes runs the method, whose own code may fail on what it was given (a null list); a
            // decoding failure must be reported as one, never as the actor's exception.
            Assert.True(outcome is "response" or nameof(ErrorKind.BadRequestBody) or "Application System.NullReferenceException", $"{method.Name}({Convert.ToHexString(input)}) answered {outcome}");
            kinds[outcome] = kinds.GetValueOrDefault(outcome) + 1;
        }, threads: 1);

        output.WriteLine($"request bodies: {executions} requests in {FuzzInputs.Seconds} s: {string.Join(", ", kinds.Select(k => $"{k.Key} {k.Value}"))}");
        Assert.True(kinds.ContainsKey(nameof(ErrorKind.BadRequestBody)));
        Assert.True(kinds.ContainsKey("response"));
        Assert.Equal(1, await silo.Factory.GetGrain<ICounterActor>("fuzz-after-bodies").Add(1));
    }

    private static byte[] Frame(FrameKind kind, byte[] payload)
    {
        var frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length + 1);
        frame[4] = (byte)kind;
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static byte[] Arguments(int count, MessagePackWrite write)
    {
        using var buffer = PooledBuffer.Rent();
        var w = buffer.CreateWriter();
        w.WriteArrayHeader(count);
        write(ref w);
        w.Flush();
        return buffer.WrittenMemory.ToArray();
    }

    /// <summary>Reads whatever the silo sends for a while; a response or error would mean a request ran unauthenticated.</summary>
    private static async Task DrainAsync(ConnectionContext connection, TimeSpan window)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Token);
        timeout.CancelAfter(window);
        var input = connection.Transport.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token);
                var buffer = result.Buffer;
                while (Protocol.TryReadFrame(ref buffer, 1 << 20, out var kind, out _))
                {
                    // Its own hello and proof come first whatever the peer sends; an answer to the request may not.
                    Assert.True(kind is FrameKind.Hello or FrameKind.Proof or FrameKind.Goodbye, $"the silo answered a {kind} before the peer proved group membership");
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!Token.IsCancellationRequested)
        {
            // The window is over; the connection is dropped.
        }
    }

    private delegate void MessagePackWrite(ref MessagePack.MessagePackWriter writer);
}
