using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Transport;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Runtime.Tests;

/// <summary>
/// The hand-off between concurrent senders of one connection: whoever finds a flush in progress queues its frame
/// for the writer, and no frame may ever be left in that queue once every send has returned (the broken hand-off
/// stranded one until some later write came along, and a caller waited for a request that never left).
/// </summary>
public sealed class FrameWriterTests
{
    private const int Senders = 8;
    private const int Bursts = 400;
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);

    /// <summary>What a writer needs of its connection: limits and a clock (no secret, no handler: it only writes).</summary>
    private static readonly ConnectionSettings Settings = new("local", null!, 1 << 20, 64, 64 << 20, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(20), null!, TimeProvider.System, NullLogger.Instance);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConcurrentBursts_AllArrive_InEachSendersOrder_WithoutALaterWrite()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var (client, server) = (pair.Client, pair.Server);
        var failures = new List<Exception>();
        using var writer = new FrameWriter(client.Transport.Output, Settings, () => "peer", e => { lock (failures) { failures.Add(e); } }, _ => { });
        var received = new Received(Senders);
        var reading = ReadAllAsync(server.Transport.Input, received);

        // Each burst: every sender sends one frame at the same moment (the bodies vary in size, so some flushes
        // wait for the socket and others complete at once). Once all sends of a burst have returned, nothing else
        // is written until every frame of the burst has arrived: a frame left in the queue would never arrive.
        var start = new Barrier(Senders);
        var sequence = new int[Senders];
        for (var burst = 1; burst <= Bursts; burst++)
        {
            var sends = Enumerable.Range(0, Senders).Select(sender => Task.Run(() =>
            {
                start.SignalAndWait(Token);
                Span<byte> header = stackalloc byte[8];
                BinaryPrimitives.WriteInt32LittleEndian(header, sender);
                BinaryPrimitives.WriteInt32LittleEndian(header[4..], ++sequence[sender]);
                var body = new byte[(burst * 7919 + sender * 104729) % 40_000];
                return writer.SendAsync(FrameKind.Request, header, body);
            }, Token)).ToArray();
            await Task.WhenAll(sends).WaitAsync(Unexpected, Token);
            await await Task.WhenAny(received.WaitForAsync(burst * Senders), reading).WaitAsync(Unexpected, Token);
        }

        Assert.Empty(failures);
        Assert.Equal(Bursts * Senders, received.Count);
        Assert.All(received.Last, last => Assert.Equal(Bursts, last));
        Assert.Equal(0, writer.QueuedBytes);
        await client.DisposeAsync();
        await reading.WaitAsync(Unexpected, Token);
    }

    [Fact]
    public async Task FrameQueuedJustAsTheWriterLetsGo_IsSentWithoutALaterWrite()
    {
        await using var pair = await SocketPair.ConnectAsync();
        var (client, server) = (pair.Client, pair.Server);
        using var writer = new FrameWriter(client.Transport.Output, Settings, () => "peer", e => Assert.Fail(e.Message), _ => { });
        var received = new Received(2);
        var reading = ReadAllAsync(server.Transport.Input, received);

        // Sender 1 is between its flush and letting go, with the queue empty, when sender 0 sends: sender 0 finds
        // a writer at work, queues, and returns. The writer must see that frame before it stops writing.
        var once = 0;
        writer.ReleasingForTests = () =>
        {
            if (Interlocked.Exchange(ref once, 1) == 0)
            {
                Task.Run(() => writer.SendAsync(FrameKind.Request, Header(0, 1), default), Token).Wait(Token);
            }
        };
        await writer.SendAsync(FrameKind.Request, Header(1, 1), default);
        await await Task.WhenAny(received.WaitForAsync(2), reading).WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.Equal([1, 1], received.Last);
        Assert.Equal(0, writer.QueuedBytes);
    }

    private static byte[] Header(int sender, int sequence)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(header, sender);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), sequence);
        return header;
    }

    private static async Task ReadAllAsync(PipeReader input, Received received)
    {
        var header = new byte[8];
        while (true)
        {
            var result = await input.ReadAsync(Token);
            var buffer = result.Buffer;
            while (Protocol.TryReadFrame(ref buffer, 1 << 20, out var kind, out var payload))
            {
                Assert.Equal(FrameKind.Request, kind);
                payload.Slice(0, 8).CopyTo(header);
                received.Add(BinaryPrimitives.ReadInt32LittleEndian(header), BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4)));
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>A real Unix-socket connection in this process: the writer writes to one end, the test reads the other.</summary>
    internal sealed class SocketPair : IAsyncDisposable
    {
        private readonly TestContainer _container = new();
        private Microsoft.AspNetCore.Connections.IConnectionListener? _listener;

        internal Microsoft.AspNetCore.Connections.ConnectionContext Client { get; private set; } = null!;

        internal Microsoft.AspNetCore.Connections.ConnectionContext Server { get; private set; } = null!;

        internal static async Task<SocketPair> ConnectAsync()
        {
            var pair = new SocketPair();
            var transport = new UnixSocketTransport(pair._container.Container);
            pair._listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), Token);
            var accepting = pair._listener.AcceptAsync(Token).AsTask();
            pair.Client = await transport.ConnectAsync(pair._listener.EndPoint, Token);
            pair.Server = (await accepting.WaitAsync(Unexpected, Token))!;
            return pair;
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Server.DisposeAsync();
            await _listener!.DisposeAsync();
            _container.Dispose();
        }
    }

    /// <summary>What the reading side has seen: a count to wait for, and each sender's last sequence number (in order).</summary>
    private sealed class Received(int senders)
    {
        private readonly Lock _lock = new();
        private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];

        internal int[] Last { get; } = new int[senders];

        internal int Count { get; private set; }

        internal void Add(int sender, int sequence)
        {
            lock (_lock)
            {
                Assert.Equal(Last[sender] + 1, sequence);
                Last[sender] = sequence;
                Count++;
                foreach (var waiter in _waiters.Where(w => w.Count <= Count).ToList())
                {
                    _waiters.Remove(waiter);
                    waiter.Done.TrySetResult();
                }
            }
        }

        internal Task WaitForAsync(int count)
        {
            lock (_lock)
            {
                if (Count >= count)
                {
                    return Task.CompletedTask;
                }

                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((count, done));
                return done.Task;
            }
        }
    }
}
