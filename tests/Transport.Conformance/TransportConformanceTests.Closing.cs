using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Xunit;

namespace Sandgrain.Transport.Conformance;

/// <summary>How a connection ends: a disposal is graceful, a peer's loss is reported without losing what it sent.</summary>
public abstract partial class TransportConformanceTests
{
    private const long LargeWrite = 8 << 20;

    /// <summary>False for a transport whose kernel reports a killed peer exactly as one that closed (Unix sockets).</summary>
    protected virtual bool TellsAKilledPeerFromAClosedOne => true;

    [Fact]
    public async Task Dispose_AfterALargeWrite_ToASlowReader_DeliversEveryByte_AndACleanEnd()
    {
        var listener = await BindAsync();
        await using var peer = StartPeer("connect-count", "--address", AddressOf(listener));
        var server = await AcceptAsync(listener);
        await peer.WaitForReadyAsync();

        // The peer reads nothing yet: write until the output is full (a flush that waits), so that bytes are queued.
        var output = server.Transport.Output;
        long written = 0;
        ValueTask<FlushResult> flush = default;
        while (written < LargeWrite)
        {
            var chunk = (int)Math.Min(256 * 1024, LargeWrite - written);
            var span = output.GetSpan(chunk);
            for (var i = 0; i < chunk; i++)
            {
                span[i] = CountingByte(written + i);
            }

            output.Advance(chunk);
            written += chunk;
            flush = output.FlushAsync(Token);
            if (!flush.IsCompleted)
            {
                break;
            }
        }

        Assert.False(flush.IsCompleted, $"{written} bytes were taken without the peer reading; nothing is left queued to test the disposal with");

        // The disposal must send what is queued once the peer reads (it starts only now), then end the stream.
        var disposed = server.DisposeAsync().AsTask();
        await peer.SendLineAsync("read");
        await flush.AsTask().WaitAsync(Unexpected, Token);
        await disposed.WaitAsync(Unexpected, Token);
        var report = await peer.WaitForLineAsync("RECEIVED ");
        Assert.Equal($"RECEIVED {written} ok clean lost=False", report);
    }

    [Fact]
    public async Task PeerDies_AfterItWrote_EveryByteItWroteIsDelivered_ThenTheInputEnds_AndWritesDoNotThrow()
    {
        const int count = 64 * 1024;
        var listener = await BindAsync();
        await using var peer = StartPeer("connect-write-die", "--address", AddressOf(listener), "--bytes", count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var server = await AcceptAsync(listener);
        await peer.WaitForReadyAsync();

        await peer.WaitForLineAsync("WROTE");
        peer.Kill();
        await peer.WaitForExitAsync();

        // Nothing was read before the death was noticed: what the peer sent must still all be there.
        await WaitForAsync(server.ConnectionClosed, TimeSpan.FromSeconds(2));
        var input = server.Transport.Input;
        long received = 0;
        while (true)
        {
            var result = await input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            foreach (var segment in result.Buffer)
            {
                foreach (var b in segment.Span)
                {
                    Assert.Equal(CountingByte(received), b);
                    received++;
                }
            }

            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        Assert.Equal(count, received);
        var end = server.Features.Get<IConnectionEndFeature>();
        Assert.NotNull(end);
        Assert.True(end.PeerLost == TellsAKilledPeerFromAClosedOne, $"PeerLost is {end.PeerLost} for a peer killed mid-connection; the end was: {end.EndReason}");
        Assert.False(string.IsNullOrEmpty(end.EndReason));

        // Writing to a connection whose peer is gone reports the end; it never throws into the application.
        var completed = false;
        for (var i = 0; i < 64 && !completed; i++)
        {
            server.Transport.Output.Write(new byte[64 * 1024]);
            completed = (await server.Transport.Output.FlushAsync(Token).AsTask().WaitAsync(Unexpected, Token)).IsCompleted;
        }

        Assert.True(completed, "writes to a connection whose peer is gone kept succeeding");
    }

    [Fact]
    public async Task PeerEndsItsStream_AndCloses_TheEndIsNotALoss()
    {
        var client = await ConnectToEchoPeerAsync();
        await Frames.WriteAsync(client.Transport.Output, "bye"u8.ToArray(), Token);
        await client.Transport.Output.CompleteAsync();
        Assert.Equal("bye"u8.ToArray(), await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        Assert.Null(await Frames.ReadAsync(client.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        await WaitForAsync(client.ConnectionClosed);
        var end = client.Features.Get<IConnectionEndFeature>();
        Assert.NotNull(end);
        Assert.False(end.PeerLost, $"a peer that ended its stream and closed was reported lost: {end.EndReason}");
        Assert.False(string.IsNullOrEmpty(end.EndReason));
    }

    [Fact]
    public async Task Abort_AfterAWrite_DoesNotWaitForThePeer()
    {
        var (client, _) = await ConnectPairAsync();
        var chunk = new byte[1 << 20];
        for (var i = 0; i < 64; i++)
        {
            client.Transport.Output.Write(chunk);
            if (!client.Transport.Output.FlushAsync(Token).IsCompleted)
            {
                break;
            }
        }

        // The peer reads nothing: a disposal would wait for it (up to the close timeout); an abort first must not.
        client.Abort(new ConnectionAbortedException("test abort"));
        var disposed = System.Diagnostics.Stopwatch.StartNew();
        await client.DisposeAsync().AsTask().WaitAsync(Unexpected, Token);
        Assert.True(disposed.Elapsed < TimeSpan.FromSeconds(1.5), $"a disposal after an abort waited {disposed.Elapsed.TotalMilliseconds:F0} ms for a peer that does not read");
    }

    private static byte CountingByte(long index) => (byte)((index * 31) + 7);
}
