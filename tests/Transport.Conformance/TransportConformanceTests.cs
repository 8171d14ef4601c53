using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace Sandgrain.Transport.Conformance;

/// <summary>
/// The transport contract, written once. Every transport runs it through a subclass named
/// <c>&lt;Transport&gt;ConformanceTests</c> that says how to make the transport and what the test peer calls it.
/// </summary>
public abstract partial class TransportConformanceTests : IAsyncLifetime
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Expected = TimeSpan.FromMilliseconds(300);

    private readonly List<IAsyncDisposable> _cleanup = [];

    protected TransportConformanceTests(ITestOutputHelper output)
    {
        Output = output;
    }

    protected ITestOutputHelper Output { get; }

    protected TestContainer Container { get; private set; } = null!;

    protected ISandgrainTransport Transport { get; private set; } = null!;

    /// <summary>The name the test peer uses for this transport (<c>--transport</c>).</summary>
    protected abstract string PeerTransportName { get; }

    /// <summary>Null when the transport can run here; otherwise why not (the tests are skipped with it).</summary>
    protected virtual string? SkipReason => null;

    /// <summary>False for a transport whose receive loop cannot be handed over, so it never reads on the receive thread (Mach).</summary>
    protected virtual bool OffersReceiveThread => true;

    protected abstract ISandgrainTransport CreateTransport(GroupContainer container);

    protected static CancellationToken Token => TestContext.Current.CancellationToken;

    public virtual ValueTask InitializeAsync()
    {
        if (SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        Container = new TestContainer();
        Transport = CreateTransport(Container.Container);
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            try
            {
                await _cleanup[i].DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or ConnectionAbortedException or ConnectionResetException)
            {
                Output.WriteLine($"cleanup: {e.GetType().Name}: {e.Message}");
            }
        }

        Container?.Dispose();
        GC.SuppressFinalize(this);
    }

    // ---- round trips -------------------------------------------------------------------------

    [Fact]
    public async Task RoundTrip_InProcess()
    {
        var (client, server) = await ConnectPairAsync();
        await Frames.WriteAsync(client.Transport.Output, "hello"u8.ToArray(), Token);
        var got = await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token);
        Assert.Equal("hello"u8.ToArray(), got);

        await Frames.WriteAsync(server.Transport.Output, "world"u8.ToArray(), Token);
        Assert.Equal("world"u8.ToArray(), await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
    }

    [Fact]
    public async Task RoundTrip_AcrossProcesses()
    {
        var client = await ConnectToEchoPeerAsync();
        for (var i = 0; i < 100; i++)
        {
            var payload = Frames.Pattern(1 + (i * 37 % 500), i);
            await Frames.WriteAsync(client.Transport.Output, payload, Token);
            Assert.Equal(payload, await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        }
    }

    [Fact]
    public async Task Reads_ContinueOnThePool_UntilTheReaderAsksForTheReceiveThread()
    {
        var client = await ConnectToEchoPeerAsync();
        var payload = Frames.Pattern(64, 7);
        var before = await ThreadOfEchoAsync(client, payload);
        Assert.DoesNotContain("-recv", before ?? "", StringComparison.Ordinal);

        var feature = client.Features.Get<IReceiveThreadFeature>();
        if (!OffersReceiveThread)
        {
            Assert.Null(feature);
            return;
        }

        Assert.NotNull(feature);
        feature.ReadInline();
        var after = await ThreadOfEchoAsync(client, payload);
        Assert.StartsWith("sandgrain-", after, StringComparison.Ordinal);
        Assert.EndsWith("-recv", after, StringComparison.Ordinal);
    }

    /// <summary>The name of the thread a read waiting for the echo of <paramref name="payload"/> continues on.</summary>
    private static async Task<string?> ThreadOfEchoAsync(ConnectionContext client, byte[] payload)
    {
        var input = client.Transport.Input;

        // Waiting before the echo can arrive, so that the read completes asynchronously, on the transport's choice of thread.
        var reading = ContinuationThreadAsync(input, payload.Length + 4);
        await Frames.WriteAsync(client.Transport.Output, payload, Token);
        return await reading.WaitAsync(Unexpected, Token);
    }

    private static async Task<string?> ContinuationThreadAsync(PipeReader input, int frameBytes)
    {
        string? thread = null;
        while (true)
        {
            var result = await input.ReadAsync(Token).ConfigureAwait(false);
            thread ??= Thread.CurrentThread.Name;
            if (result.Buffer.Length >= frameBytes)
            {
                input.AdvanceTo(result.Buffer.GetPosition(frameBytes));
                return thread;
            }

            Assert.False(result.IsCompleted, "the echo peer closed the connection");
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    [Fact]
    public async Task PeerProcess_ConnectsToListenerInThisProcess()
    {
        var listener = await BindAsync();
        await using var peer = StartPeer("connect-echo", "--address", AddressOf(listener));
        var server = await AcceptAsync(listener);
        await peer.WaitForReadyAsync();

        await Frames.WriteAsync(server.Transport.Output, "ping"u8.ToArray(), Token);
        Assert.Equal("ping"u8.ToArray(), await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
    }

    [Fact]
    public async Task Frames_100000_ArriveInOrder_AcrossProcesses()
    {
        const int count = 100_000;
        var client = await ConnectToEchoPeerAsync();
        var reading = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                var frame = await Frames.ReadAsync(client.Transport.Input, Token);
                Assert.NotNull(frame);
                Assert.Equal(i, BitConverter.ToInt32(frame));
            }
        }, Token);

        for (var i = 0; i < count; i++)
        {
            Frames.Write(client.Transport.Output, BitConverter.GetBytes(i));
            if (i % 64 == 63)
            {
                await client.Transport.Output.FlushAsync(Token);
            }
        }

        await client.Transport.Output.FlushAsync(Token);
        await reading.WaitAsync(Unexpected, Token);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4095)]
    [InlineData(65_536)]
    [InlineData(65_537)]
    [InlineData(1 << 20)]
    [InlineData((16 << 20) + 3)]
    [InlineData(64 << 20)]
    public async Task Payload_EchoedIntact_AcrossProcesses(int size)
    {
        var client = await ConnectToEchoPeerAsync();
        var payload = Frames.Pattern(size, size);
        var reading = Frames.ReadAsync(client.Transport.Input, Token).AsTask();
        await Frames.WriteAsync(client.Transport.Output, payload, Token);
        var echoed = await reading.WaitAsync(Unexpected, Token);
        Assert.NotNull(echoed);
        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(payload.AsSpan().SequenceEqual(echoed), "the echoed payload differs from what was sent");
    }

    // ---- concurrency -------------------------------------------------------------------------

    [Fact]
    public async Task EightConcurrentConnections_NoCrossTalk_AcrossProcesses()
    {
        var address = await StartEchoPeerAsync();
        var tasks = Enumerable.Range(0, 8).Select(writer => Task.Run(async () =>
        {
            var connection = await ConnectAsync(address);
            for (var i = 0; i < 500; i++)
            {
                var payload = Frames.Pattern(16 + ((writer * 131 + i) % 3000), (writer << 16) | i);
                await Frames.WriteAsync(connection.Transport.Output, payload, Token);
                var echoed = await Frames.ReadAsync(connection.Transport.Input, Token);
                Assert.Equal(payload, echoed);
            }
        }, Token));
        await Task.WhenAll(tasks).WaitAsync(Unexpected, Token);
    }

    [Fact]
    public async Task EightConcurrentWriters_OneConnection_FramesNotInterleaved()
    {
        var (client, server) = await ConnectPairAsync();
        using var writeLock = new SemaphoreSlim(1);
        const int perWriter = 2_000;
        var writers = Enumerable.Range(0, 8).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; i < perWriter; i++)
            {
                var payload = Frames.Pattern(8 + ((writer * 7919 + i) % 700), (writer << 16) | i);
                payload[0] = (byte)writer;
                BitConverter.TryWriteBytes(payload.AsSpan(1, 4), i);
                await writeLock.WaitAsync(Token);
                try
                {
                    await Frames.WriteAsync(client.Transport.Output, payload, Token);
                }
                finally
                {
                    writeLock.Release();
                }
            }
        }, Token)).ToArray();

        var next = new int[8];
        for (var n = 0; n < 8 * perWriter; n++)
        {
            var frame = await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.NotNull(frame);
            int writer = frame[0];
            var index = BitConverter.ToInt32(frame.AsSpan(1, 4));
            Assert.Equal(next[writer]++, index);
            var expected = Frames.Pattern(8 + ((writer * 7919 + index) % 700), (writer << 16) | index);
            Assert.True(expected.AsSpan(5).SequenceEqual(frame.AsSpan(5)), $"frame {index} of writer {writer} is damaged");
        }

        await Task.WhenAll(writers).WaitAsync(Unexpected, Token);
    }

    // ---- back-pressure -----------------------------------------------------------------------

    [Fact]
    public async Task BackPressure_ReaderThatStops_MakesWriterWait_WithBoundedBuffering()
    {
        var (client, server) = await ConnectPairAsync();
        var chunk = new byte[64 * 1024];
        long written = 0;
        ValueTask<FlushResult> pending = default;
        var blocked = false;

        // Nobody reads the server side: after the pipes and kernel buffers fill, a flush must stay pending.
        while (written < 512L * 1024 * 1024)
        {
            client.Transport.Output.Write(chunk);
            written += chunk.Length;
            pending = client.Transport.Output.FlushAsync(Token);
            if (!pending.IsCompleted)
            {
                var flushTask = pending.AsTask();
                if (await Task.WhenAny(flushTask, Task.Delay(Expected, Token)) != flushTask)
                {
                    blocked = true;
                    pending = new ValueTask<FlushResult>(flushTask);
                    break;
                }
            }
        }

        Assert.True(blocked, $"the writer was never made to wait after {written} bytes with no reader");
        Output.WriteLine($"writer waited after {written / 1024} KiB buffered");
        Assert.True(written <= 64L * 1024 * 1024, $"{written} bytes were accepted with no reader; buffering must be bounded");

        // The reader resumes: the writer is released and every byte arrives.
        var reading = Task.Run(async () =>
        {
            long total = 0;
            while (total < written)
            {
                var result = await server.Transport.Input.ReadAsync(Token);
                total += result.Buffer.Length;
                server.Transport.Input.AdvanceTo(result.Buffer.End);
            }

            return total;
        }, Token);
        await pending.AsTask().WaitAsync(Unexpected, Token);
        Assert.Equal(written, await reading.WaitAsync(Unexpected, Token));
    }

    // ---- ending ------------------------------------------------------------------------------

    [Fact]
    public async Task HalfClose_ReaderSeesEnd_AndCanStillReply()
    {
        var (client, server) = await ConnectPairAsync();
        await Frames.WriteAsync(client.Transport.Output, "last"u8.ToArray(), Token);
        await client.Transport.Output.CompleteAsync();

        Assert.Equal("last"u8.ToArray(), await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        Assert.Null(await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));

        // The other direction stays open.
        await Frames.WriteAsync(server.Transport.Output, "reply"u8.ToArray(), Token);
        Assert.Equal("reply"u8.ToArray(), await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
    }

    [Fact]
    public async Task HalfClose_AcrossProcesses_PeerEchoesThenEnds()
    {
        var client = await ConnectToEchoPeerAsync();
        var payload = Frames.Pattern(100_000, 7);
        await Frames.WriteAsync(client.Transport.Output, payload, Token);
        await client.Transport.Output.CompleteAsync();
        Assert.Equal(payload, await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        Assert.Null(await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
    }

    [Fact]
    public async Task Abort_EndsBothSides()
    {
        var (client, server) = await ConnectPairAsync();
        var serverRead = ReadOnceAsync(server.Transport.Input);
        client.Abort(new ConnectionAbortedException("test abort"));

        await WaitForAsync(client.ConnectionClosed);
        await AssertReadEndsAsync(serverRead);
        await WaitForAsync(server.ConnectionClosed);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var read = await client.Transport.Input.ReadAsync(Token);
            if (read.IsCompleted)
            {
                throw new EndOfStreamException();
            }
        });
    }

    [Fact]
    public async Task DisposeDuringReceive_CompletesThePendingRead()
    {
        var (client, _) = await ConnectPairAsync();
        var read = ReadOnceAsync(client.Transport.Input);
        await Task.Delay(50, Token);
        Assert.False(read.IsCompleted);
        await client.DisposeAsync().AsTask().WaitAsync(Unexpected, Token);
        await AssertReadEndsAsync(read);
    }

    [Fact]
    public async Task ConcurrentAndRepeatedDisposals_AllComplete_AfterTheConnectionHasClosed()
    {
        var (client, server) = await ConnectPairAsync();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = client.ConnectionClosed.Register(() => closed.TrySetResult());
        var disposals = Enumerable.Range(0, 4).Select(_ => Task.Run(async () => await client.DisposeAsync())).ToArray();
        await Task.WhenAll(disposals).WaitAsync(Unexpected, Token);
        await closed.Task.WaitAsync(Unexpected, Token);
        await client.DisposeAsync().AsTask().WaitAsync(Unexpected, Token);
        client.Abort();

        // The peer sees the end too.
        await AssertReadEndsAsync(ReadOnceAsync(server.Transport.Input));
    }

    [Fact]
    public async Task DisposeDuringSend_CompletesThePendingFlush()
    {
        var (client, _) = await ConnectPairAsync();
        var chunk = new byte[1 << 20];
        Task<FlushResult>? blocked = null;
        for (var i = 0; i < 512 && blocked is null; i++)
        {
            client.Transport.Output.Write(chunk);
            var flush = client.Transport.Output.FlushAsync(Token);
            if (!flush.IsCompleted)
            {
                blocked = flush.AsTask();
            }
        }

        Assert.NotNull(blocked);
        await client.DisposeAsync().AsTask().WaitAsync(Unexpected, Token);
        var ended = await Task.WhenAny(blocked, Task.Delay(Unexpected, Token));
        Assert.Same(blocked, ended);
    }

    [Fact]
    public async Task DisposeWhileReceiveBufferIsFull_DoesNotHang()
    {
        var (client, server) = await ConnectPairAsync();
        var chunk = new byte[1 << 20];
        for (var i = 0; i < 512; i++)
        {
            client.Transport.Output.Write(chunk);
            var flush = client.Transport.Output.FlushAsync(Token);
            if (!flush.IsCompleted)
            {
                break;
            }
        }

        // The server never read: its receive side is stopped by back-pressure. Disposing must still end it.
        await server.DisposeAsync().AsTask().WaitAsync(Unexpected, Token);
        await WaitForAsync(client.ConnectionClosed);
    }

    [Fact]
    public async Task PeerDisposes_ConnectionClosedFires_AndWritesFail()
    {
        var (client, server) = await ConnectPairAsync();
        await server.DisposeAsync();
        await WaitForAsync(client.ConnectionClosed);
        await AssertReadEndsAsync(ReadOnceAsync(client.Transport.Input));
        await AssertWritesFailAsync(client);
    }

    [Fact]
    public async Task PeerKilledMidStream_SurvivorNoticesWithinTwoSeconds()
    {
        var listener = await BindAsync();
        await using var peer = StartPeer("connect-flood", "--address", AddressOf(listener));
        var server = await AcceptAsync(listener);
        await peer.WaitForReadyAsync();

        // Read some of the stream, then kill the writer mid-stream.
        long received = 0;
        while (received < 1 << 20)
        {
            var result = await server.Transport.Input.ReadAsync(Token);
            received += result.Buffer.Length;
            server.Transport.Input.AdvanceTo(result.Buffer.End);
        }

        var killed = Stopwatch.StartNew();
        peer.Kill();
        var drained = Task.Run(async () =>
        {
            while (true)
            {
                var result = await server.Transport.Input.ReadAsync(Token);
                server.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }, Token);

        await AssertReadEndsAsync(drained, TimeSpan.FromSeconds(2));
        await WaitForAsync(server.ConnectionClosed, TimeSpan.FromSeconds(2));
        Output.WriteLine($"peer death noticed after {killed.Elapsed.TotalMilliseconds:F1} ms");
        await AssertWritesFailAsync(server);
    }

    [Fact]
    public async Task PeerIdentity_IsReportedOnBothSides()
    {
        var listener = await BindAsync();
        await using var peer = StartPeer("connect-echo", "--address", AddressOf(listener));
        var server = await AcceptAsync(listener);
        var identity = server.Features.Get<IPeerIdentityFeature>();
        Assert.NotNull(identity);
        Assert.Equal(UserAccount.EffectiveUserId, identity.UserId);
        Assert.Equal(peer.Id, identity.ProcessId);

        var (client, _) = await ConnectPairAsync();
        var clientSide = client.Features.Get<IPeerIdentityFeature>();
        Assert.NotNull(clientSide);
        Assert.Equal(UserAccount.EffectiveUserId, clientSide.UserId);
        Assert.Equal(Environment.ProcessId, clientSide.ProcessId);
    }

    // ---- endpoints ---------------------------------------------------------------------------

    [Fact]
    public async Task ConnectToMissingEndpoint_ThrowsEndpointNotFound()
    {
        var endpoint = Transport.CreateEndPoint(Transport.CreateUniqueAddress());
        var e = await Assert.ThrowsAsync<EndpointNotFoundException>(async () => await Transport.ConnectAsync(endpoint, Token));
        Assert.Contains(endpoint.ToString()!, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateEndPoint_WithAnotherScheme_IsRefused()
    {
        var other = Transport.Scheme == "unix" ? "shm:abc" : "unix:s/abc";
        var e = Assert.ThrowsAny<ArgumentException>(() => Transport.CreateEndPoint(TransportAddress.Parse(other)));
        Assert.Contains(other, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListenerDisposal_EndsPendingAccept_AndRefusesNewConnections()
    {
        var listener = await Transport.BindAsync(Transport.CreateEndPoint(Transport.CreateUniqueAddress()), Token);
        var accept = listener.AcceptAsync(Token).AsTask();
        await Task.Delay(50, Token);
        await listener.DisposeAsync();
        Assert.Null(await accept.WaitAsync(Unexpected, Token));
        await Assert.ThrowsAsync<EndpointNotFoundException>(async () => await Transport.ConnectAsync(listener.EndPoint, Token));

        // The address can be bound again at once.
        await using var again = await Transport.BindAsync(listener.EndPoint, Token);
    }

    [Fact]
    public async Task BindingALiveAddress_IsRefused_WithoutDisturbingTheListener()
    {
        var listener = await BindAsync();
        var e = await Assert.ThrowsAsync<EndpointInUseException>(async () => await Transport.BindAsync(listener.EndPoint, Token));
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);

        var (client, _) = await ConnectPairAsync(listener);
        Assert.NotNull(client);
    }

    [Fact]
    public async Task BindingAnAddressHeldByAnotherLiveProcess_IsRefused()
    {
        var address = await StartEchoPeerAsync();
        var e = await Assert.ThrowsAsync<EndpointInUseException>(async () => await Transport.BindAsync(Transport.CreateEndPoint(TransportAddress.Parse(address)), Token));
        Output.WriteLine(e.Message);
    }

    [Fact]
    public async Task StaleEndpointOfKilledProcess_IsReplacedByNewListener()
    {
        var address = Transport.CreateUniqueAddress().ToString();
        var peer = StartPeer("listen-echo", "--address", address);
        await peer.WaitForReadyAsync();
        peer.Kill();
        await peer.WaitForExitAsync();
        await peer.DisposeAsync();

        var endpoint = Transport.CreateEndPoint(TransportAddress.Parse(address));
        await Assert.ThrowsAsync<EndpointNotFoundException>(async () => await Transport.ConnectAsync(endpoint, Token));
        var listener = await Transport.BindAsync(endpoint, Token);
        _cleanup.Add(listener);
        var (client, _) = await ConnectPairAsync(listener);
        Assert.NotNull(client);
    }

    [Fact]
    public async Task RemoveStaleEndpoint_OfKilledProcess_LeavesAnAddressThatIsNotFound_AndCanBeBound()
    {
        var address = Transport.CreateUniqueAddress().ToString();
        var peer = StartPeer("listen-echo", "--address", address);
        await peer.WaitForReadyAsync();
        peer.Kill();
        await peer.WaitForExitAsync();
        await peer.DisposeAsync();

        var parsed = TransportAddress.Parse(address);
        Transport.RemoveStaleEndpoint(parsed);
        Transport.RemoveStaleEndpoint(parsed);
        var endpoint = Transport.CreateEndPoint(parsed);
        await Assert.ThrowsAsync<EndpointNotFoundException>(async () => await Transport.ConnectAsync(endpoint, Token));
        var listener = await Transport.BindAsync(endpoint, Token);
        _cleanup.Add(listener);
        var (client, _) = await ConnectPairAsync(listener);
        Assert.NotNull(client);
    }

    [Fact]
    public async Task RemoveStaleEndpoint_OfALiveListener_LeavesItServing()
    {
        var address = await StartEchoPeerAsync();
        Transport.RemoveStaleEndpoint(TransportAddress.Parse(address));

        var connection = await ConnectAsync(address);
        await Frames.WriteAsync(connection.Transport.Output, new byte[] { 1, 2, 3 }, Token);
        Assert.Equal(new byte[] { 1, 2, 3 }, await Frames.ReadAsync(connection.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
    }

    [Fact]
    public void RemoveStaleEndpoint_WithAnotherScheme_IsRefused()
    {
        var other = Transport.Scheme == "unix" ? "shm:abc" : "unix:s/abc";
        var e = Assert.ThrowsAny<ArgumentException>(() => Transport.RemoveStaleEndpoint(TransportAddress.Parse(other)));
        Assert.Contains(other, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Preference_IsPositive_AndSupportedHere()
    {
        Assert.True(Transport.Preference > 0);
        Assert.Null(Transport.UnsupportedReason);
    }

    [Fact]
    public async Task ManyConnections_AcceptedAndServed()
    {
        var address = await StartEchoPeerAsync();
        var connections = new List<ConnectionContext>();
        for (var i = 0; i < 64; i++)
        {
            connections.Add(await ConnectAsync(address));
        }

        foreach (var (connection, i) in connections.Select((c, i) => (c, i)))
        {
            await Frames.WriteAsync(connection.Transport.Output, BitConverter.GetBytes(i), Token);
        }

        foreach (var (connection, i) in connections.Select((c, i) => (c, i)))
        {
            Assert.Equal(i, BitConverter.ToInt32(await Frames.ReadAsync(connection.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token)));
        }
    }

    // ---- helpers -----------------------------------------------------------------------------

    protected PeerProcess StartPeer(string mode, params string[] arguments)
    {
        var peer = PeerProcess.Start(Output, [mode, .. Container.PeerArguments(PeerTransportName), .. arguments]);
        _cleanup.Add(peer);
        return peer;
    }

    protected async Task<string> StartEchoPeerAsync()
    {
        var address = Transport.CreateUniqueAddress().ToString();
        var peer = StartPeer("listen-echo", "--address", address);
        await peer.WaitForReadyAsync();
        return address;
    }

    protected async Task<ConnectionContext> ConnectToEchoPeerAsync() => await ConnectAsync(await StartEchoPeerAsync());

    protected async Task<ConnectionContext> ConnectAsync(string address)
    {
        var connection = await Transport.ConnectAsync(Transport.CreateEndPoint(TransportAddress.Parse(address)), Token).AsTask().WaitAsync(Unexpected, Token);
        _cleanup.Add(connection);
        return connection;
    }

    protected async Task<IConnectionListener> BindAsync()
    {
        var listener = await Transport.BindAsync(Transport.CreateEndPoint(Transport.CreateUniqueAddress()), Token);
        _cleanup.Add(listener);
        return listener;
    }

    protected async Task<ConnectionContext> AcceptAsync(IConnectionListener listener)
    {
        var connection = await listener.AcceptAsync(Token).AsTask().WaitAsync(Unexpected, Token);
        Assert.NotNull(connection);
        _cleanup.Add(connection);
        return connection;
    }

    protected async Task<(ConnectionContext Client, ConnectionContext Server)> ConnectPairAsync(IConnectionListener? listener = null)
    {
        listener ??= await BindAsync();
        var accept = AcceptAsync(listener);
        var client = await Transport.ConnectAsync(listener.EndPoint, Token).AsTask().WaitAsync(Unexpected, Token);
        _cleanup.Add(client);
        return (client, await accept);
    }

    protected static string AddressOf(IConnectionListener listener) => listener.EndPoint.ToString()!;

    protected static Task WaitForAsync(CancellationToken closed, TimeSpan? within = null) =>
        ConnectionWaits.ClosedAsync(closed, within ?? Unexpected, Token);

    /// <summary>One read, with a synchronous failure turned into a faulted task.</summary>
    protected static async Task<ReadResult> ReadOnceAsync(PipeReader reader) => await reader.ReadAsync(Token);

    /// <summary>A read that must end: either it reports completion or it throws a connection error.</summary>
    protected static async Task AssertReadEndsAsync(Task read, TimeSpan? within = null)
    {
        try
        {
            await read.WaitAsync(within ?? Unexpected, Token);
            if (read is Task<ReadResult> result)
            {
                Assert.True(result.Result.IsCompleted || result.Result.IsCanceled, "the read returned data instead of ending");
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException or OperationCanceledException and not TaskCanceledException)
        {
            // Ending with a connection error is what is asserted.
        }
    }

    /// <summary>Writing to a connection whose peer is gone must fail (throw, or report the pipe completed).</summary>
    protected static async Task AssertWritesFailAsync(ConnectionContext connection)
    {
        var failed = false;
        try
        {
            for (var i = 0; i < 64 && !failed; i++)
            {
                connection.Transport.Output.Write(new byte[64 * 1024]);
                var flush = await connection.Transport.Output.FlushAsync(Token).AsTask().WaitAsync(Unexpected, Token);
                failed = flush.IsCompleted;
                await Task.Yield();
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or IOException or InvalidOperationException)
        {
            failed = true;
        }

        Assert.True(failed, "writes to a connection whose peer is gone kept succeeding");
    }
}
