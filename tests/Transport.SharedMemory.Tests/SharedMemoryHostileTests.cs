using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Sandgrain.Transport.Conformance;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Transport.SharedMemory.Tests;

/// <summary>
/// Peers of the shared-memory transport that lie in its handshake: a listener that picks how the client must wait, a
/// client that asks for enormous rings or names a FIFO as its segment, clients that never finish. Each is a raw
/// socket doing exactly what an attacker would; each fails one connection and costs nothing that stays.
/// </summary>
[Collection(nameof(DescriptorCountingCollection))]
public sealed class SharedMemoryHostileTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Unexpected = TimeSpan.FromSeconds(30);
    private readonly TestContainer _container = new();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private string ShmFolder => Path.Combine(_container.Container.SandgrainPath, SharedMemoryTransport.Folder);

    [Fact]
    public async Task ListenerThatChoosesAWakeMechanismTheClientDidNotOffer_IsRefused()
    {
        // On Linux the client offers futex and the doorbell; os_sync (macOS) would be a call through a null
        // function pointer here. On macOS the client offers os_sync and the doorbell, and futex is the stranger.
        var foreign = OperatingSystem.IsLinux() ? (byte)WakeMechanism.OsSync : (byte)WakeMechanism.Futex;
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        Directory.CreateDirectory(ShmFolder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var hostile = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        hostile.Bind(new UnixDomainSocketEndPoint(endpoint.Companion.Path));
        hostile.Listen();
        var answering = Task.Run(async () =>
        {
            using var peer = await hostile.AcceptAsync(Token);
            var hello = new byte[14];
            await peer.ReceiveAsync(hello, Token);
            var reply = new byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(reply, Handshake.Magic);
            reply[4] = 0;
            reply[5] = foreign;
            await peer.SendAsync(reply, Token);
            await peer.ReceiveAsync(new byte[256], Token);
        }, Token);

        var e = await Assert.ThrowsAsync<IOException>(() => transport.ConnectAsync(endpoint, Token).AsTask());
        output.WriteLine(e.Message);
        Assert.Contains("did not offer", e.Message, StringComparison.Ordinal);
        await answering.WaitAsync(Unexpected, Token);
        Assert.Empty(Directory.GetFiles(ShmFolder, "*.seg"));
    }

    [Fact]
    public async Task ClientThatAsksForRingsOverTheLimit_IsRefused_NamingTheOption()
    {
        var transport = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { MaxAcceptedRingCapacity = 1 << 20 });
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        using var raw = await ConnectRawAsync(endpoint);
        await raw.SendAsync(Hello(1 << 30, "0123456789abcdef.seg"), Token);
        var (accepted, message) = await ReadReplyAsync(raw);
        output.WriteLine(message);
        Assert.False(accepted);
        Assert.Contains("SharedMemoryTransportOptions.MaxAcceptedRingCapacity", message, StringComparison.Ordinal);
        Assert.Contains((1 << 30).ToString(System.Globalization.CultureInfo.InvariantCulture), message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HandshakesPassingAFifoAsTheSegment_FailEach_AndLeaveNoThreadOrDescriptorBehind()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "counts descriptors in /proc/self/fd, and passes segments by descriptor (Linux)");
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        await RoundAsync(0);
        var threads = Process.GetCurrentProcess().Threads.Count;
        var descriptors = Directory.GetFiles("/proc/self/fd").Length;

        for (var i = 1; i <= 50; i++)
        {
            await RoundAsync(i);
        }

        // The listener lets go of each failed handshake's companion connection, its thread and its descriptors.
        var deadline = Stopwatch.StartNew();
        while (Directory.GetFiles("/proc/self/fd").Length > descriptors + 20 && deadline.Elapsed < Unexpected)
        {
            await Task.Delay(20, Token);
        }

        Process.GetCurrentProcess().Refresh();
        var threadsAfter = Process.GetCurrentProcess().Threads.Count;
        var descriptorsAfter = Directory.GetFiles("/proc/self/fd").Length;
        output.WriteLine($"threads {threads} → {threadsAfter}, descriptors {descriptors} → {descriptorsAfter}");
        // A leak costs one or two of each per handshake (50); what else the runtime opens meanwhile (timers, pool
        // threads and their pipes) is a handful.
        Assert.True(descriptorsAfter <= descriptors + 20, $"{descriptorsAfter - descriptors} descriptors more after 50 failed handshakes");
        Assert.True(threadsAfter <= threads + 20, $"{threadsAfter - threads} threads more after 50 failed handshakes");

        async Task RoundAsync(int round)
        {
            var fifo = Path.Combine(_container.Container.SandgrainPath, $"fifo-{round}");
            MakeFifo(fifo);

            // O_RDWR: opening a FIFO so does not wait for the other end.
            using (var handle = File.OpenHandle(fifo, FileMode.Open, FileAccess.ReadWrite))
            {
                using var raw = await ConnectRawAsync(endpoint);
                DescriptorPassing.Send(raw, Hello(1 << 20, ""), handle);
                var (accepted, message) = await ReadReplyAsync(raw);
                Assert.False(accepted);
                Assert.Contains("not sealable memory", message, StringComparison.Ordinal);
            }

            File.Delete(fifo);
        }
    }

    [Fact]
    public async Task AClientThatTriesToTruncateTheSegmentItPassed_CannotKillTheListener()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "sealed memory (memfd) is Linux's; on macOS an authenticated peer can still truncate a named segment (SECURITY.md)");
        const int Capacity = 64 * 1024;
        var transport = new SharedMemoryTransport(_container.Container);
        var address = transport.CreateUniqueAddress();
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(address);

        // The victim is a listener in a process of its own: a SIGBUS there ends that process, not this test's.
        await using var victim = PeerProcess.Start(output, ["listen-echo", .. _container.PeerArguments("shm"), "--address", address.ToString()]);
        await victim.WaitForReadyAsync();

        // The attacker makes the segment exactly as an honest client does (sealed, or the listener refuses it, see
        // below), completes the handshake, and then shrinks the memory the listener has mapped.
        using var segment = Segment.CreateSealed(Capacity);
        using var raw = await ConnectRawAsync(endpoint);
        DescriptorPassing.Send(raw, Hello(Capacity, ""), segment.Handle);
        var (accepted, message) = await ReadReplyAsync(raw);
        Assert.True(accepted, message);

        var fd = (int)segment.Handle.DangerousGetHandle();
        Assert.Equal(-1, LibC.Ftruncate(fd, 0));
        Assert.Equal(1, System.Runtime.InteropServices.Marshal.GetLastPInvokeError()); // EPERM: sealed
        Assert.Equal(-1, LibC.LinuxFcntl(fd, LibC.FAddSeals, 0)); // and the seals cannot be changed

        // Bytes in the listener's ring, and a wake: the listener reads the memory the attacker tried to take away.
        var producer = new RingProducer(segment.Ring(0), Parking.Create(WakeMechanism.Futex, _ => { }));
        Assert.Equal(7, producer.Write("hostile"u8));
        producer.Publish();

        // The listener still serves: an honest client's bytes come back.
        await using var honest = await transport.ConnectAsync(endpoint, Token).AsTask().WaitAsync(Unexpected, Token);
        await Frames.WriteAsync(honest.Transport.Output, "ping"u8.ToArray(), Token);
        Assert.Equal("ping"u8.ToArray(), await Frames.ReadAsync(honest.Transport.Input, Token).AsTask().WaitAsync(Unexpected, Token));
        Assert.False(victim.HasExited, victim.StandardError);
    }

    [Theory]
    [InlineData("unsealed memory")]
    [InlineData("a file in the container")]
    public async Task ASegmentThatCouldBeTruncated_IsRefused_BeforeItIsMapped(string kind)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "sealed memory (memfd) is Linux's");
        const int Capacity = 64 * 1024;
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        using var handle = kind == "unsealed memory" ? UnsealedMemory(SegmentLayout.SegmentSize(Capacity)) : RegularFile(SegmentLayout.SegmentSize(Capacity));

        using var raw = await ConnectRawAsync(endpoint);
        DescriptorPassing.Send(raw, Hello(Capacity, ""), handle);
        var (accepted, message) = await ReadReplyAsync(raw);
        output.WriteLine(message);
        Assert.False(accepted);
        Assert.Contains("could truncate it", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASegmentNamedInTheContainer_IsRefusedOnLinux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "a Linux listener maps only sealed memory; macOS has no sealing and maps named segments");
        var transport = new SharedMemoryTransport(_container.Container);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        Directory.CreateDirectory(ShmFolder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        const string Name = "00000000000000ab.seg";
        using var segment = Segment.Create(Path.Combine(ShmFolder, Name), 4096);

        using var raw = await ConnectRawAsync(endpoint);
        await raw.SendAsync(Hello(4096, Name), Token);
        var (accepted, message) = await ReadReplyAsync(raw);
        output.WriteLine(message);
        Assert.False(accepted);
        Assert.Contains("only sealed memory", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APeerThatPassesMoreDescriptorsThanTheCompanionTakes_IsClosed_AndTheyAreClosedToo()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "counts descriptors in /proc/self/fd, and passes descriptors (Linux)");
        var transport = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { HandshakeTimeout = TimeSpan.FromMinutes(1) });
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        using var raw = await ConnectRawAsync(endpoint);
        var descriptors = Directory.GetFiles("/proc/self/fd").Length;

        // Half a hello with each descriptor: the listener waits for the rest, while the descriptors pile up.
        using var memory = UnsealedMemory(4096);
        for (var i = 0; i < 200; i++)
        {
            try
            {
                DescriptorPassing.Send(raw, [0], memory);
            }
            catch (SocketException)
            {
                break; // closed by the listener: what the test expects
            }
        }

        // Closed: the end of the stream, or a reset, since the listener closes with the attacker's bytes unread.
        try
        {
            Assert.Equal(0, await raw.ReceiveAsync(new byte[64], Token).AsTask().WaitAsync(Unexpected, Token));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        var after = Directory.GetFiles("/proc/self/fd").Length;
        output.WriteLine($"descriptors {descriptors} → {after}");
        Assert.True(after <= descriptors + 10, $"{after - descriptors} descriptors more in the listener's process after 200 were passed to it");
    }

    [Fact]
    public async Task SilentClients_AreClosedAtTheHandshakeTimeout_WithThrottledWarningsThatSaySo()
    {
        using var logs = new CapturingLoggerFactory();
        var transport = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) }, logs);
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                silent.Add(await ConnectRawAsync(endpoint));
            }

            foreach (var raw in silent)
            {
                Assert.Equal(0, await raw.ReceiveAsync(new byte[64], Token).AsTask().WaitAsync(Unexpected, Token));
            }
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }

        var refused = logs.Messages.Where(m => m.Contains("Refused a shared-memory connection", StringComparison.Ordinal)).ToList();
        output.WriteLine($"{refused.Count} warnings for 100 silent clients; first: {refused.FirstOrDefault()}");
        Assert.InRange(refused.Count, 1, 60);
        Assert.All(refused, m => Assert.Contains("SharedMemoryTransportOptions.HandshakeTimeout", m, StringComparison.Ordinal));
    }

    public void Dispose() => _container.Dispose();

    [Fact]
    public async Task APeerThatKeepsItsWaiterSet_AndNeverReadsItsDoorbells_CannotHoldTheThreadThatWrites()
    {
        const int Capacity = 64 * 1024;
        const int Writes = 50_000;
        var transport = new SharedMemoryTransport(_container.Container, new SharedMemoryTransportOptions { ForceDoorbell = true, SpinDuration = TimeSpan.Zero });
        var endpoint = (SharedMemoryEndPoint)transport.CreateEndPoint(transport.CreateUniqueAddress());
        await using var listener = await transport.BindAsync(endpoint, Token);
        using var segment = OperatingSystem.IsLinux() ? Segment.CreateSealed(Capacity) : Segment.Create(Path.Combine(CreatedShmFolder(), "00000000000000cd.seg"), Capacity);
        using var raw = await ConnectRawAsync(endpoint);
        var hello = Hello(Capacity, OperatingSystem.IsLinux() ? "" : "00000000000000cd.seg");
        hello[6] = (byte)WakeMechanism.Doorbell;
        var accepting = listener.AcceptAsync(Token);
        if (OperatingSystem.IsLinux())
        {
            DescriptorPassing.Send(raw, hello, segment.Handle);
        }
        else
        {
            await raw.SendAsync(hello, Token);
        }

        var (accepted, message) = await ReadReplyAsync(raw);
        Assert.True(accepted, message);
        await using var connection = (await accepting.AsTask().WaitAsync(Unexpected, Token))!;

        // The attacker drains the ring the listener writes, so that every write publishes; keeps its waiter word
        // set, so that every publish rings its doorbell; and never reads its companion socket.
        using var stop = new CancellationTokenSource();
        var consumer = new RingConsumer(segment.Ring(1), Parking.Create(WakeMechanism.Doorbell, _ => { }));
        var draining = Task.Run(() =>
        {
            var buffer = new byte[Capacity];
            while (!stop.IsCancellationRequested)
            {
                consumer.ArmDataWaiter();
                var available = consumer.Available();
                if (available > 0)
                {
                    consumer.Read(buffer, available);
                }
            }
        }, Token);

        var output = connection.Transport.Output;
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < Writes; i++)
            {
                output.GetSpan(1)[0] = 1;
                output.Advance(1);
                await output.FlushAsync(Token);
            }
        }, Token);
        try
        {
            await writing.WaitAsync(Unexpected, Token);
        }
        finally
        {
            await stop.CancelAsync();
            await draining;
        }
    }

    private static async Task<Socket> ConnectRawAsync(SharedMemoryEndPoint endpoint)
    {
        var raw = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await raw.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.Companion.Path), Token);
        return raw;
    }

    /// <summary>
    /// A client hello: magic, version, mechanisms (futex and doorbell), segment kind, capacity, segment name (empty:
    /// the segment goes by descriptor).
    /// </summary>
    private static byte[] Hello(int capacity, string segmentName)
    {
        var name = Encoding.ASCII.GetBytes(segmentName);
        var hello = new byte[14 + name.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, Handshake.Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(4), Handshake.Version);
        hello[6] = (byte)(WakeMechanism.Futex | WakeMechanism.Doorbell);
        hello[7] = segmentName.Length == 0 ? Handshake.SealedSegment : Handshake.NamedSegment;
        BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(8), capacity);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(12), (ushort)name.Length);
        name.CopyTo(hello, 14);
        return hello;
    }

    private static async Task<(bool Accepted, string Message)> ReadReplyAsync(Socket raw)
    {
        var received = new List<byte>();
        var buffer = new byte[2048];
        while (received.Count < 8 || received.Count < 8 + BinaryPrimitives.ReadUInt16LittleEndian(received.ToArray().AsSpan(6)))
        {
            var n = await raw.ReceiveAsync(buffer, Token).AsTask().WaitAsync(Unexpected, Token);
            Assert.True(n > 0, "the listener closed without a reply");
            received.AddRange(buffer.AsSpan(0, n));
        }

        var bytes = received.ToArray();
        return (bytes[4] == 0, Encoding.UTF8.GetString(bytes, 8, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(6))));
    }

    private string CreatedShmFolder()
    {
        Directory.CreateDirectory(ShmFolder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return ShmFolder;
    }

    /// <summary>Memory an attacker could shrink under the listener's mapping: a memfd without seals.</summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle UnsealedMemory(long size)
    {
        var fd = LibC.MemfdCreate("hostile", LibC.MfdCloexec);
        Assert.True(fd >= 0, "memfd_create failed");
        Assert.Equal(0, LibC.Ftruncate(fd, size));
        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>An ordinary file of the right size, as a group member could pass: it can be truncated at any time.</summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle RegularFile(long size)
    {
        var path = Path.Combine(_container.Container.SandgrainPath, "not-sealed");
        var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        RandomAccess.SetLength(handle, size);
        return handle;
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path])!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }

    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();

        internal IReadOnlyList<string> Messages => [.. _messages];

        public ILogger CreateLogger(string categoryName) => new Logger(_messages);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) => messages.Enqueue(formatter(state, exception));
        }
    }
}

/// <summary>Tests that count this process's descriptors and threads run alone, not beside tests that open their own.</summary>
[CollectionDefinition(nameof(DescriptorCountingCollection), DisableParallelization = true)]
public sealed class DescriptorCountingCollection;
