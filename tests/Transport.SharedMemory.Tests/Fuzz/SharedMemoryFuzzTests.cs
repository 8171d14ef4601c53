using System.Buffers;
using System.IO.Pipelines;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.SharedMemory.Tests;

/// <summary>
/// What a peer of the shared-memory transport presents before anything trusts it, on arbitrary input: the client's
/// hello and the listener's reply as they arrive on the companion socket (split as a socket may split them), and the
/// header and ring positions of a segment it passes. Each either parses or is refused with the one exception its
/// caller handles; nothing else escapes, and nothing allocates in proportion to a length the input claims.
/// </summary>
public sealed class SharedMemoryFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void TheHello_OnArbitraryBytes_ParsesOrIsRefused_WithBoundedAllocation()
    {
        var seeds = FuzzInputs.Corpus("shm-hello").Append(Handshake.EncodeHello(new Handshake.Hello(WakeMechanism.Futex | WakeMechanism.Doorbell, 1 << 20, ""))).Append(Handshake.EncodeHello(new Handshake.Hello(WakeMechanism.Doorbell, 4096, "0123456789abcdef.seg"))).ToArray();
        var executions = FuzzInputs.Run(FuzzInputs.From(seeds, 128), input => Parse(input, static reader => Handshake.ReadHelloAsync(reader, CancellationToken.None).AsTask()));
        output.WriteLine($"shm hello: {executions} executions in {FuzzInputs.Seconds} s");
        Assert.True(executions > 0);
    }

    [Fact]
    public void TheReply_OnArbitraryBytes_ParsesOrIsRefused_WithBoundedAllocation()
    {
        var seeds = FuzzInputs.Corpus("shm-reply");
        var executions = FuzzInputs.Run(FuzzInputs.From(seeds, 1200), input => Parse(input, static reader => Handshake.ReadReplyAsync(reader, CancellationToken.None).AsTask()));
        output.WriteLine($"shm reply: {executions} executions in {FuzzInputs.Seconds} s");
        Assert.True(executions > 0);
    }

    [Fact]
    public void ASegmentWithAnArbitraryHeaderAndPositions_IsMappedOrRefused_AndItsPositionsAreRangeChecked()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "segments passed by descriptor are sealed memory (memfd), Linux's");
        const int Capacity = 4096;
        using var honest = Segment.CreateSealed(Capacity);
        var header = HeaderOf(honest);
        var seeds = FuzzInputs.Corpus("shm-segment-header").Append(header).ToArray();
        var path = $"/proc/self/fd/{honest.Handle.DangerousGetHandle()}";

        // One thread: every execution rewrites the same segment's header.
        var executions = FuzzInputs.Run(FuzzInputs.From(seeds, 256), input => Present(honest, path, input, Capacity), threads: 1);
        output.WriteLine($"segment header: {executions} executions in {FuzzInputs.Seconds} s");
        Assert.True(executions > 0);
    }

    private static unsafe byte[] HeaderOf(Segment segment) => new ReadOnlySpan<byte>(segment.Base, 256).ToArray();

    /// <summary>Writes <paramref name="input"/> over the segment's header and first ring's control words, then presents it as a peer would.</summary>
    private static unsafe void Present(Segment honest, string path, byte[] input, int capacity)
    {
        var b = honest.Base;
        new Span<byte>(b, 256).Clear();
        input.AsSpan(0, Math.Min(input.Length, 256)).CopyTo(new Span<byte>(b, 256));

        // Bytes 128 on are the first ring's control words: its producer position comes from the input too.

        // A second open of the same sealed memory, as the listener receives it: its own descriptor, the same seals.
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        Segment segment;
        try
        {
            segment = Segment.OpenSealed(handle, capacity);
        }
        catch (InvalidDataException)
        {
            return;
        }

        using (segment)
        {
            var consumer = new RingConsumer(segment.Ring(0), Parking.Create(WakeMechanism.Doorbell, _ => { }));
            try
            {
                var available = consumer.Available();
                Assert.InRange(available, 0, capacity);
                var buffer = new byte[capacity];
                Assert.Equal(available, consumer.Read(buffer, available));
            }
            catch (InvalidDataException)
            {
                // An impossible position: what the connection closes on.
            }
        }
    }

    /// <summary>Feeds <paramref name="input"/> to <paramref name="parse"/> through a pipe, in pieces, as the companion socket delivers it.</summary>
    private static void Parse(byte[] input, Func<PipeReader, Task> parse)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        var parsing = parse(pipe.Reader);
        for (var offset = 0; offset < input.Length; offset += 7)
        {
            pipe.Writer.Write(input.AsSpan(offset, Math.Min(7, input.Length - offset)));
            _ = pipe.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        }

        pipe.Writer.Complete();
        try
        {
            parsing.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            // The two ways the handshake refuses input; the listener and the client each close the connection on them.
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024 + (16L * input.Length), $"{allocated} bytes allocated for {input.Length} bytes of input");
    }
}
