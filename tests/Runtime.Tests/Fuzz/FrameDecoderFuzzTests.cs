using System.Buffers;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Runtime.Tests.Fuzz;

/// <summary>
/// The frame decoder and every frame-body decoder on arbitrary bytes, split into arbitrary segments as a pipe
/// delivers them: they either decode or throw ProtocolViolationException; nothing else escapes, and nothing
/// allocates in proportion to a length the input claims but does not carry.
/// </summary>
public sealed class FrameDecoderFuzzTests(ITestOutputHelper output)
{
    private const int MaxFrameSize = 64 * 1024 * 1024;

    [Fact]
    public void FrameDecoder_OnArbitraryBytes_DecodesOrRefuses_WithBoundedAllocation()
    {
        var executions = FuzzInputs.Run(FuzzInputs.From(FuzzInputs.Corpus("frames")), Decode);
        output.WriteLine($"frame decoder: {executions} executions in {FuzzInputs.Seconds} s");
        Assert.True(executions > 0);
    }

    [Fact]
    public void FourGigabyteLengthPrefix_IsRefusedBeforeAnythingIsBuffered()
    {
        var buffer = new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF, 0xFF, (byte)FrameKind.Request]);
        var e = Assert.Throws<ProtocolViolationException>(() => Protocol.TryReadFrame(ref buffer, MaxFrameSize, out _, out _));
        Assert.Contains("over the limit of 67108864 (Sandgrain:MaxFrameSize)", e.Message, StringComparison.Ordinal);
    }

    private static void Decode(byte[] input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var buffer = Segments(input);
        try
        {
            while (Protocol.TryReadFrame(ref buffer, MaxFrameSize, out var kind, out var payload))
            {
                _ = kind switch
                {
                    FrameKind.Hello => (object)Protocol.DecodeHello(payload),
                    FrameKind.Request => Protocol.DecodeRequest(payload, out _),
                    FrameKind.Error => Protocol.DecodeError(payload),
                    FrameKind.Goodbye => Protocol.DecodeGoodbye(payload),
                    FrameKind.Response or FrameKind.Cancel or FrameKind.Ping or FrameKind.Pong => Protocol.DecodeId(payload, out _),
                    _ => payload.Length,
                };
            }
        }
        catch (ProtocolViolationException)
        {
            // The one way a decoder may refuse input.
        }

        // Decoded strings and arrays are bounded by the bytes present; a claimed length never is allocated.
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 64 * 1024 + (16L * input.Length), $"{allocated} bytes allocated for {input.Length} bytes of input");
    }

    /// <summary>The input cut into up to four segments, as a pipe may hand it over.</summary>
    private static ReadOnlySequence<byte> Segments(byte[] input)
    {
        if (input.Length < 4)
        {
            return new ReadOnlySequence<byte>(input);
        }

        var cuts = new[] { input.Length / 3, input.Length / 2, input.Length - 1 };
        Segment first = new(input.AsMemory(0, cuts[0]), 0);
        var last = first.Append(input.AsMemory(cuts[0], cuts[1] - cuts[0])).Append(input.AsMemory(cuts[1], cuts[2] - cuts[1])).Append(input.AsMemory(cuts[2]));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
