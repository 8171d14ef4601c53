using System.Net.Sockets;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

/// <summary><see cref="UnixSocketTransport.RemoveStaleEndpoint"/>: a dead listener's file goes, nothing else does.</summary>
public sealed class UnixSocketStaleEndpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestContainer _container = new();

    private string Sandgrain => _container.Container.SandgrainPath;

    [Fact]
    public async Task SocketFileOfAKilledProcess_IsRemoved_AndRemovingAgainDoesNothing()
    {
        var transport = new UnixSocketTransport(_container.Container);
        var address = transport.CreateUniqueAddress();
        var path = ((UnixSocketEndPoint)transport.CreateEndPoint(address)).Path;
        await using (var peer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("unix"), "--address", address.ToString()]))
        {
            await peer.WaitForReadyAsync();
            peer.Kill();
            await peer.WaitForExitAsync();
        }

        Assert.True(File.Exists(path), "SIGKILL leaves the socket file behind");
        transport.RemoveStaleEndpoint(address);
        Assert.False(File.Exists(path));
        transport.RemoveStaleEndpoint(address);
        Assert.True(transport.RemoveStaleSocket(address, UnixSocketTransport.SocketFolder) is false);
    }

    [Fact]
    public async Task SocketFileOfALiveProcess_IsKept()
    {
        var transport = new UnixSocketTransport(_container.Container);
        var address = transport.CreateUniqueAddress();
        var path = ((UnixSocketEndPoint)transport.CreateEndPoint(address)).Path;
        await using var peer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("unix"), "--address", address.ToString()]);
        await peer.WaitForReadyAsync();

        transport.RemoveStaleEndpoint(address);
        Assert.True(File.Exists(path));
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(address), TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("unix:secret")]
    [InlineData("unix:registry/record.json")]
    [InlineData("unix:s/deeper/7f3a")]
    public async Task AddressesOutsideItsFolder_AreRefused_AndTheirFilesKept(string text)
    {
        var transport = new UnixSocketTransport(_container.Container);
        var address = TransportAddress.Parse(text);
        var path = Path.Combine(Sandgrain, address.Value);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await LeaveStaleSocketAsync(transport, path);

        var e = Assert.ThrowsAny<ArgumentException>(() => transport.RemoveStaleEndpoint(address));
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task TheBindLock_IsRefused_AndKept()
    {
        var transport = new UnixSocketTransport(_container.Container);
        await (await transport.BindAsync(transport.CreateEndPoint(transport.CreateUniqueAddress()), TestContext.Current.CancellationToken)).DisposeAsync();
        var bindLock = Path.Combine(Sandgrain, UnixSocketTransport.SocketFolder, ".bind.lock");
        Assert.True(File.Exists(bindLock));

        Assert.ThrowsAny<ArgumentException>(() => transport.RemoveStaleEndpoint(TransportAddress.Parse("unix:s/.bind.lock")));
        Assert.True(File.Exists(bindLock));
    }

    [Fact]
    public async Task AFolderReplacedByALink_IsNotFollowed()
    {
        var transport = new UnixSocketTransport(_container.Container);
        var elsewhere = Path.Combine(_container.Root, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        var victim = Path.Combine(elsewhere, "7f3a09c1");
        await LeaveStaleSocketAsync(transport, victim);
        var folder = Path.Combine(Sandgrain, UnixSocketTransport.SocketFolder);
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Directory.CreateSymbolicLink(folder, elsewhere);
        transport.RemoveStaleEndpoint(TransportAddress.Parse("unix:s/7f3a09c1"));
        Assert.True(File.Exists(victim));
    }

    [Fact]
    public void AbsoluteAndClimbingAddresses_DoNotParse()
    {
        Assert.False(TransportAddress.TryParse("unix:/tmp/x", out _, out _));
        Assert.False(TransportAddress.TryParse("unix:s/../../x", out _, out _));
    }

    [Fact]
    public void MissingFileOrFolder_IsNothingToRemove()
    {
        var transport = new UnixSocketTransport(_container.Container);
        transport.RemoveStaleEndpoint(transport.CreateUniqueAddress());
    }

    public void Dispose() => _container.Dispose();

    /// <summary>
    /// Leaves a real stale socket file at <paramref name="path"/>: a peer process listens, is killed, and its file is
    /// moved there. (A socket closed in this process would remove its own file.)
    /// </summary>
    private async Task LeaveStaleSocketAsync(UnixSocketTransport transport, string path)
    {
        var address = transport.CreateUniqueAddress();
        await using (var peer = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("unix"), "--address", address.ToString()]))
        {
            await peer.WaitForReadyAsync();
            peer.Kill();
            await peer.WaitForExitAsync();
        }

        File.Move(((UnixSocketEndPoint)transport.CreateEndPoint(address)).Path, path);
        await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path), TestContext.Current.CancellationToken);
        });
    }
}
