using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.SharedMemory.Tests;

public sealed class SharedMemoryTransportTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private string ShmFolder => Path.Combine(_container.Container.SandgrainPath, SharedMemoryTransport.Folder);

    [Fact]
    public async Task Handshake_ChoosesFutexOnLinux_DoorbellWhenForced_AndRemovesTheSegmentFile()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "futex wake-ups are Linux-only; macOS uses os_sync or the doorbell");
        var transport = new SharedMemoryTransport(_container.Container);
        await using var listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), Token);
        var accept = listener.AcceptAsync(Token).AsTask();
        await using var client = (SharedMemoryConnection)await transport.ConnectAsync(listener.EndPoint, Token);
        await using var server = (SharedMemoryConnection)(await accept.WaitAsync(Unexpected, Token))!;
        Assert.Equal(WakeMechanism.Futex, client.Mechanism);
        Assert.Equal(WakeMechanism.Futex, server.Mechanism);
        Assert.Empty(Directory.GetFiles(ShmFolder, "*.seg"));

        var doorbell = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { ForceDoorbell = true });
        await using var bellClient = (SharedMemoryConnection)await doorbell.ConnectAsync(listener.EndPoint, Token);
        Assert.Equal(WakeMechanism.Doorbell, bellClient.Mechanism);
    }

    [Fact]
    public async Task CorruptProducerPosition_ClosesTheConnection_NamingTheValue()
    {
        var transport = new SharedMemoryTransport(_container.Container);
        await using var listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), Token);
        var accept = listener.AcceptAsync(Token).AsTask();
        await using var client = (SharedMemoryConnection)await transport.ConnectAsync(listener.EndPoint, Token);
        await using var server = (SharedMemoryConnection)(await accept.WaitAsync(Unexpected, Token))!;

        // Play a hostile client: claim far more data than the ring holds. The server notices when it next
        // looks at the ring, at the latest when its park times out.
        unsafe
        {
            Volatile.Write(ref *client.Segment.Ring(0).ProducerPosition, 1L << 40);
        }

        var e = await Assert.ThrowsAsync<ConnectionAbortedException>(async () =>
        {
            while (true)
            {
                var result = await server.Transport.Input.ReadAsync(Token).AsTask().WaitAsync(Unexpected, Token);
                server.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });
        Assert.Contains((1L << 40).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
        Assert.Contains("corrupt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageHandshake_IsRefused_AndTheListenerKeepsServing()
    {
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);

        using (var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await raw.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Companion.Path), Token);
            await raw.SendAsync(new byte[] { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, Token);
            var buffer = new byte[16];
            Assert.Equal(0, await raw.ReceiveAsync(buffer, Token).AsTask().WaitAsync(Unexpected, Token));
        }

        var accept = listener.AcceptAsync(Token).AsTask();
        await using var client = await transport.ConnectAsync(endpoint, Token);
        Assert.NotNull(await accept.WaitAsync(Unexpected, Token));
    }

    [Fact]
    public void SegmentWithWrongVersionOrMagic_IsRefused_NamingBothValues()
    {
        Directory.CreateDirectory(ShmFolder);
        var path = Path.Combine(ShmFolder, "0123456789abcdef.seg");
        using (var segment = Segment.Create(path, 4096))
        {
            unsafe
            {
                *(int*)(segment.Base + SegmentLayout.VersionOffset) = 7;
            }
        }

        var e = Assert.Throws<InvalidDataException>(() => Segment.Open(path, 4096));
        Assert.Contains("version 7", e.Message, StringComparison.Ordinal);
        Assert.Contains($"version {SegmentLayout.Version}", e.Message, StringComparison.Ordinal);

        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(SegmentLayout.VersionOffset), SegmentLayout.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(SegmentLayout.MagicOffset), 0x1122334455667788);
        File.WriteAllBytes(path, bytes);
        e = Assert.Throws<InvalidDataException>(() => Segment.Open(path, 4096));
        Assert.Contains("0x1122334455667788", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<InvalidDataException>(() => Segment.Open(path, 8192));
        Assert.Contains("8192", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StaleSegmentFiles_AreRemovedByTheNextListener_LiveOnesAreKept()
    {
        Directory.CreateDirectory(ShmFolder);
        var stale = Path.Combine(ShmFolder, "00000000000000aa.seg");
        File.WriteAllBytes(stale, new byte[16]);
        var live = Path.Combine(ShmFolder, "00000000000000bb.seg");
        using var held = Segment.Create(live, 4096);

        var transport = new SharedMemoryTransport(_container.Container);
        await using var listener = await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), Token);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(live));
    }

    [Fact]
    public async Task RemoveStaleEndpoint_RemovesTheCompanionSocketOfAKilledListener_AndKeepsALiveOne()
    {
        var transport = new SharedMemoryTransport(_container.Container);
        var dead = transport.CreateUniqueAddress();
        var live = transport.CreateUniqueAddress();
        await using var livePeer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("shm"), "--address", live.ToString()]);
        await using (var peer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("shm"), "--address", dead.ToString()]))
        {
            await peer.WaitForReadyAsync();
            peer.Kill();
            await peer.WaitForExitAsync();
        }

        await livePeer.WaitForReadyAsync();
        Assert.True(File.Exists(Path.Combine(ShmFolder, dead.Value)), "SIGKILL leaves the companion socket behind");
        transport.RemoveStaleEndpoint(dead);
        transport.RemoveStaleEndpoint(dead);
        transport.RemoveStaleEndpoint(live);
        Assert.False(File.Exists(Path.Combine(ShmFolder, dead.Value)));
        Assert.True(File.Exists(Path.Combine(ShmFolder, live.Value)));
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(live), Token);
    }

    [Fact]
    public void OnLinux_ACompanionPathNoMacCanReach_IsRefusedByDefault_UnlessPlatformIsLinux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "asserts that Linux checks macOS's limits too");
        using var container = new TestContainer(subPath: string.Join('/', Enumerable.Repeat(new string('m', 60), 4)));
        var e = Assert.Throws<SandboxNameException>(() => new SharedMemoryTransport(container.Container));
        Assert.Equal(SandboxNameRules.MacOSLongSocketPathMaxBytes, e.LimitBytes);
        _ = new SharedMemoryTransport(container.Container, new SharedMemoryTransportOptions { Platform = SandboxPlatform.Linux });
    }

    [Fact]
    public void Preference_IsTheFirstChoice_AndItRunsEverywhere()
    {
        var transport = new SharedMemoryTransport(_container.Container);
        Assert.Equal(100, transport.Preference);
        Assert.Null(transport.UnsupportedReason);
        var e = Assert.ThrowsAny<ArgumentException>(() => transport.CreateEndPoint(TransportAddress.Parse("shm:a/b")));
        Assert.Contains("contains '/'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("shm:a/b")]
    [InlineData("shm:.bind.lock")]
    [InlineData("shm:0123456789abcdef.seg")]
    public void RemoveStaleEndpoint_RefusesNamesThatAreNotEndpoints(string text)
    {
        var transport = new SharedMemoryTransport(_container.Container);
        var e = Assert.ThrowsAny<ArgumentException>(() => transport.RemoveStaleEndpoint(TransportAddress.Parse(text)));
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HundredConnectKillCycles_LeaveNoFilesBehind()
    {
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        for (var i = 0; i < 100; i++)
        {
            await using var peer = PeerProcess.Start(null, ["connect-echo", .. _container.PeerArguments("shm"), "--address", endpoint.ToString()!]);
            var server = await listener.AcceptAsync(Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.NotNull(server);
            await peer.WaitForReadyAsync();
            await Frames.WriteAsync(server.Transport.Output, BitConverter.GetBytes(i), Token);
            Assert.Equal(i, BitConverter.ToInt32(await Frames.ReadAsync(server.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token)));
            peer.Kill();
            var closed = new TaskCompletionSource();
            using (server.ConnectionClosed.Register(() => closed.TrySetResult()))
            {
                await closed.Task.WaitAsync(Unexpected, Token);
            }

            await server.DisposeAsync();
        }

        var left = Directory.GetFiles(ShmFolder).Where(f => !f.EndsWith(Path.GetFileName(((SharedMemoryEndPoint)endpoint).Companion.Path), StringComparison.Ordinal) && !f.EndsWith(".bind.lock", StringComparison.Ordinal)).ToList();
        output.WriteLine($"files in shm/: {string.Join(", ", Directory.GetFiles(ShmFolder).Select(Path.GetFileName))}");
        Assert.Empty(left);
    }

    [Fact]
    public void Options_OutOfRange_AreRefusedNamingTheOption()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { RingCapacity = 5000 }));
        Assert.Contains("RingCapacity", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.FromSeconds(-1) }));
        Assert.Contains("SpinDuration", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1 | 4, 1 | 4, 1)]   // futex on both: futex
    [InlineData(2 | 4, 4, 4)]       // macOS 14.4+ meets an older macOS: doorbell
    [InlineData(2 | 4, 2 | 4, 2)]   // os_sync on both: os_sync
    public void Mechanism_IsTheBestBothOffer(int ours, int theirs, int expected) =>
        Assert.Equal((WakeMechanism)expected, Parking.Choose((WakeMechanism)ours, (WakeMechanism)theirs));

    public void Dispose() => _container.Dispose();
}
