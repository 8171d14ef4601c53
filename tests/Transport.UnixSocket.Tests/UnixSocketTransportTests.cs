using System.Buffers.Binary;
using System.Net.Sockets;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.UnixSocket.Tests;

public sealed class UnixSocketTransportTests(ITestOutputHelper output)
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SocketFile_Is0600_InFolders0700()
    {
        using var container = new TestContainer();
        var transport = new UnixSocketTransport(container.Container);
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(endpoint.Path));
        var rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.Equal(rwx, File.GetUnixFileMode(Path.GetDirectoryName(endpoint.Path)!));
        Assert.Equal(rwx, File.GetUnixFileMode(container.Container.SandgrainPath));
        Assert.StartsWith(container.Container.SandgrainPath + "/s/", endpoint.Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContainerPathLongerThanSunPath_UsesProcFdFallback_InProcessAndAcrossProcesses()
    {
        using var container = new TestContainer(subPath: new string('d', 60) + "/" + new string('e', 60));
        var transport = new UnixSocketTransport(container.Container);
        var address = transport.CreateUniqueAddress();
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(address);
        Assert.True(SandboxNameRules.Utf8Length(endpoint.Path) > 108, $"the test path must be over 108 bytes; it is {endpoint.Path.Length}");
        Assert.Equal(SocketPathKind.LinuxProcFd, endpoint.Plan.Kind);

        // In this process.
        await using (var listener = await transport.BindAsync(endpoint, Token))
        {
            var accept = listener.AcceptAsync(Token).AsTask();
            await using var client = await transport.ConnectAsync(endpoint, Token);
            await using var server = (await accept)!;
            await Frames.WriteAsync(client.Transport.Output, "long"u8.ToArray(), Token);
            Assert.Equal("long"u8.ToArray(), await Frames.ReadAsync(server.Transport.Input, Token));
        }

        // Across processes: a peer listens at the long path, this process connects.
        await using var peer = PeerProcess.Start(output, ["listen-echo", .. container.PeerArguments("unix"), "--address", address.ToString()]);
        await peer.WaitForReadyAsync();
        await using var remote = await transport.ConnectAsync(endpoint, Token);
        var payload = Frames.Pattern(300_000, 3);
        await Frames.WriteAsync(remote.Transport.Output, payload, Token);
        Assert.Equal(payload, await Frames.ReadAsync(remote.Transport.Input, Token));
    }

    [Theory]
    [InlineData("unix:s//x", "empty path segment")]
    [InlineData("unix:s/x/", "empty path segment")]
    public void AddressesThatAreNotRelativePaths_AreRefusedByTheTransport(string text, string reason)
    {
        using var container = new TestContainer();
        var transport = new UnixSocketTransport(container.Container);
        var e = Assert.ThrowsAny<ArgumentException>(() => transport.CreateEndPoint(TransportAddress.Parse(text)));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Preference_IsAfterSharedMemoryAndMach_AndItRunsEverywhere()
    {
        using var container = new TestContainer();
        var transport = new UnixSocketTransport(container.Container);
        Assert.Equal(300, transport.Preference);
        Assert.Null(transport.UnsupportedReason);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2_000_000)]
    public void SpinDurationOutOfRange_IsRefusedNamingTheOption(int microseconds)
    {
        using var container = new TestContainer();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { SpinDuration = TimeSpan.FromMicroseconds(microseconds) }));
        Assert.Contains("UnixSocketTransportOptions.SpinDuration", e.Message, StringComparison.Ordinal);
        Assert.Contains("zero to one second", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SocketNameTooLongForEveryMethod_IsRefusedAtConfigurationTime()
    {
        using var container = new TestContainer(subPath: new string('d', 110));
        var transport = new UnixSocketTransport(container.Container);
        var e = Assert.Throws<SandboxNameException>(() => transport.CreateEndPoint(TransportAddress.Parse("unix:s/" + new string('n', 90))));
        Assert.Contains("/proc/self/fd", e.Message, StringComparison.Ordinal);
        Assert.Equal(SandboxNameRules.LinuxSocketPathMaxBytes, e.LimitBytes);
    }

    [Fact]
    public void ContainerTooLongForMacOS_IsRefusedWhenTheTransportIsConfigured()
    {
        using var container = new TestContainer(subPath: string.Join('/', Enumerable.Repeat(new string('m', 60), 4)));
        var e = Assert.Throws<SandboxNameException>(() => new UnixSocketTransport(container.Container, new UnixSocketTransportOptions { Platform = SandboxPlatform.MacOS }));
        Assert.Equal(SandboxNameRules.MacOSLongSocketPathMaxBytes, e.LimitBytes);
        Assert.Contains("bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ContainerBetween104And252Bytes_OnMacOS_PlansTheLongSockaddr()
    {
        var path = "/Users/" + new string('u', 40) + "/Library/Group Containers/ABCDE12345.com.example.tests/.sandgrain/s/7f3a09c1";
        Assert.InRange(SandboxNameRules.Utf8Length(path), 104, 252);
        Assert.Equal(SocketPathKind.MacOSLongAddress, SocketPathPlan.Create(path, SandboxPlatform.MacOS).Kind);
        Assert.Equal(SocketPathKind.LinuxProcFd, SocketPathPlan.Create(path, SandboxPlatform.Linux).Kind);
        Assert.Equal(SocketPathKind.Direct, SocketPathPlan.Create("/tmp/x/.sandgrain/s/7f3a09c1", SandboxPlatform.MacOS).Kind);
    }

    [Fact]
    public void MacOSSockaddr_HasLengthFamilyPathAndNul()
    {
        var path = "/" + new string('p', 150);
        var address = SocketPathPlan.EncodeMacOSSockaddr(path);
        Assert.Equal(2 + 151 + 1, address.Length);
        Assert.Equal(address.Length, address[0]);
        Assert.Equal(1, address[1]); // AF_UNIX
        Assert.Equal((byte)'/', address[2]);
        Assert.Equal(0, address[^1]);

        Assert.Equal(255, SocketPathPlan.EncodeMacOSSockaddr("/" + new string('p', 251)).Length);
        Assert.Throws<ArgumentException>(() => SocketPathPlan.EncodeMacOSSockaddr("/" + new string('p', 252)));
    }

    [Theory]
    [InlineData(61, SocketError.ConnectionRefused)]
    [InlineData(2, SocketError.AddressNotAvailable)]
    [InlineData(48, SocketError.AddressAlreadyInUse)]
    [InlineData(1, SocketError.AccessDenied)]
    [InlineData(13, SocketError.AccessDenied)]
    public void MacOSErrno_MapsToSocketError(int errno, SocketError expected) =>
        Assert.Equal(expected, SocketPathPlan.MacOSSocketError(errno));

    [Fact]
    public void LinuxUcred_IsParsed_PidZeroMeansUnknown()
    {
        var ucred = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(ucred, 4242);
        BinaryPrimitives.WriteUInt32LittleEndian(ucred.AsSpan(4), 501);
        Assert.Equal(new PeerIdentity(501, 4242), PeerCredentials.ParseLinuxUcred(ucred));
        BinaryPrimitives.WriteInt32LittleEndian(ucred, 0);
        Assert.Null(PeerCredentials.ParseLinuxUcred(ucred).ProcessId);
    }

    [Fact]
    public async Task PeerOfAnotherUser_IsRefused_AndTheListenerKeepsServing()
    {
        if (UserAccount.EffectiveUserId != 0 || !File.Exists("/usr/bin/setpriv"))
        {
            Assert.Skip("needs root and setpriv (util-linux) to run a peer as another uid; CI runs as root");
        }

        // A container whose folders another user may traverse, as a misconfigured or hostile setup would have.
        using var container = new TestContainer(parent: "/tmp");
        var transport = new UnixSocketTransport(container.Container);
        var endpoint = (UnixSocketEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        var open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        foreach (var dir in new[] { container.Root, container.Container.SandgrainPath, Path.GetDirectoryName(endpoint.Path)! })
        {
            File.SetUnixFileMode(dir, open);
        }

        File.SetUnixFileMode(endpoint.Path, open);

        var accept = listener.AcceptAsync(Token).AsTask();
        var peerExe = Path.Combine(AppContext.BaseDirectory, "Sandgrain.TestPeer");
        var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "--reuid", "65534", "--regid", "65534", "--clear-groups", peerExe, "raw-connect", "--path", endpoint.Path })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["HOME"] = "/tmp";
        start.Environment["DOTNET_CLI_HOME"] = "/tmp";
        using var stranger = System.Diagnostics.Process.Start(start)!;
        var stdout = await stranger.StandardOutput.ReadToEndAsync(Token).WaitAsync(TimeSpan.FromSeconds(30), Token);
        await stranger.WaitForExitAsync(Token);
        output.WriteLine($"stranger: {stdout} {await stranger.StandardError.ReadToEndAsync(Token)}");
        Assert.Contains("READY", stdout, StringComparison.Ordinal);
        Assert.Contains("EOF", stdout, StringComparison.Ordinal);
        Assert.False(accept.IsCompleted, "a connection from another uid was handed to the application");

        // A peer of the same user is still accepted.
        await using var client = await transport.ConnectAsync(endpoint, Token);
        await using var server = await accept.WaitAsync(TimeSpan.FromSeconds(30), Token);
        Assert.Equal(Environment.ProcessId, server!.Features.Get<IPeerIdentityFeature>()!.ProcessId);
    }
}
