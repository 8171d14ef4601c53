using CsCheck;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.SharedMemory.Tests;

/// <summary>
/// Random frame sizes through a 4 KiB ring, so that nearly every frame wraps, echoed by another process;
/// every byte is checked. Once with spinning, once with parking only.
/// </summary>
public sealed class SharedMemoryRingPropertyTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestContainer _container = new();

    [Theory]
    [InlineData("shm-small", 50)]
    [InlineData("shm-small-park", 0)]
    public async Task RandomFrameSizes_AcrossTheWrapBoundary_ArriveIntact(string peerTransport, int spinMicroseconds)
    {
        var transport = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions
        {
            RingCapacity = 4096,
            SpinDuration = TimeSpan.FromMicroseconds(spinMicroseconds),
        });
        var address = transport.CreateUniqueAddress();
        await using var peer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments(peerTransport), "--address", address.ToString()]);
        await peer.WaitForReadyAsync();
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(address), TestContext.Current.CancellationToken);

        var frames = 0;
        var sizes = Gen.OneOf(Gen.Int[1, 100], Gen.Int[4000, 4200], Gen.Int[1, 3 * 4096]).List[1, 24];
        await sizes.SampleAsync(async list =>
        {
            var payloads = list.Select((size, i) => Frames.Pattern(size, size * 31 + i)).ToList();
            var reading = Task.Run(async () =>
            {
                foreach (var expected in payloads)
                {
                    var echoed = await Frames.ReadAsync(connection.Transport.Input, TestContext.Current.CancellationToken);
                    Assert.NotNull(echoed);
                    Assert.True(expected.AsSpan().SequenceEqual(echoed), $"a {expected.Length}-byte frame came back damaged");
                }
            });
            foreach (var payload in payloads)
            {
                await Frames.WriteAsync(connection.Transport.Output, payload, TestContext.Current.CancellationToken);
            }

            await reading.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            frames += payloads.Count;
        }, iter: 60, threads: 1);
        output.WriteLine($"{frames} frames checked");
        Assert.True(frames >= 60);
    }

    public void Dispose() => _container.Dispose();
}
