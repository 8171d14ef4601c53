// The second process of cross-process transport tests. It speaks raw bytes (no framing of its own) so that
// what a test asserts is the transport's behaviour, and it reports progress as single lines on stdout.
//
//   listen-echo  --address A   bind A, print READY, echo every connection's bytes back until killed
//   connect-echo --address A   connect to A, print READY, echo bytes back until the input ends
//   connect-flood --address A  connect to A, print READY, write an endless counting byte stream
//   connect-count --address A  connect to A, print READY, read nothing until a line arrives on stdin,
//                              then read to the end and print
//                              RECEIVED <bytes> <ok|corrupt-at-I> <clean|error:TYPE> lost=<PeerLost>
//   connect-write-die --address A --bytes N
//                              connect to A, print READY, write N counting bytes (never reading), print WROTE,
//                              then wait to be killed
//   hold-lock    --path P      take the flock on P, print READY, hold it until killed or stdin closes
//   raw-connect  --path P      connect a plain socket to the file P (no Sandgrain), print READY, then
//                              print EOF when the other side closes it (used as a peer of another uid)
//
// Common options: --transport unix|unix-block|mach|shm|shm-park|shm-doorbell|shm-small|shm-small-park, --container DIR, --group GROUP-ID.
// (shm-doorbell also names its segments in the container instead of passing sealed memory: the macOS path.)
using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Transport;
using Sandgrain.Transport.Mach;
using Sandgrain.Transport.SharedMemory;
using Sandgrain.Transport.UnixSocket;

var mode = args.Length > 0 ? args[0] : "";
var options = ParseOptions(args.Skip(1).ToArray());

switch (mode)
{
    case "hold-lock":
        using (FileLock.TryAcquire(options["path"]) ?? throw new InvalidOperationException("lock is held by another process"))
        {
            Console.WriteLine("READY");
            await WaitForStdinCloseAsync();
        }

        return 0;
    case "raw-connect":
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        socket.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(options["path"]));
        Console.WriteLine("READY");
        var buffer = new byte[256];
        try
        {
            while (socket.Receive(buffer) > 0)
            {
            }
        }
        catch (System.Net.Sockets.SocketException)
        {
        }

        Console.WriteLine("EOF");
        return 0;
    }

    case "listen-echo":
    {
        var transport = CreateTransport(options);
        await using var listener = await transport.BindAsync(transport.CreateEndPoint(TransportAddress.Parse(options["address"])));
        Console.WriteLine("READY");
        while (await listener.AcceptAsync() is { } connection)
        {
            _ = Task.Run(async () =>
            {
                await using (connection)
                {
                    await EchoAsync(connection);
                }
            });
        }

        return 0;
    }

    case "connect-echo":
    {
        var transport = CreateTransport(options);
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(TransportAddress.Parse(options["address"])));
        Console.WriteLine("READY");
        await EchoAsync(connection);
        return 0;
    }

    case "connect-flood":
    {
        var transport = CreateTransport(options);
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(TransportAddress.Parse(options["address"])));
        Console.WriteLine("READY");
        var output = connection.Transport.Output;
        byte counter = 0;
        while (true)
        {
            var span = output.GetSpan(4096);
            for (var i = 0; i < 4096; i++)
            {
                span[i] = counter++;
            }

            output.Advance(4096);
            var flush = await output.FlushAsync();
            if (flush.IsCompleted)
            {
                return 0;
            }
        }
    }

    case "connect-count":
    {
        var transport = CreateTransport(options);
        await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(TransportAddress.Parse(options["address"])));
        Console.WriteLine("READY");

        // Nothing is read until the test says so: what it writes meanwhile stays queued on its side.
        await Console.In.ReadLineAsync();
        var input = connection.Transport.Input;
        long received = 0;
        long corruptAt = -1;
        var end = "clean";
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    foreach (var b in segment.Span)
                    {
                        if (corruptAt < 0 && b != CountingByte(received))
                        {
                            corruptAt = received;
                        }

                        received++;
                    }
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e)
        {
            end = "error:" + e.GetType().Name;
        }

        var lost = connection.Features.Get<IConnectionEndFeature>()?.PeerLost;
        Console.WriteLine($"RECEIVED {received} {(corruptAt < 0 ? "ok" : "corrupt-at-" + corruptAt)} {end} lost={lost}");
        return 0;
    }

    case "connect-write-die":
    {
        var transport = CreateTransport(options);
        var count = int.Parse(options["bytes"], System.Globalization.CultureInfo.InvariantCulture);
        var connection = await transport.ConnectAsync(transport.CreateEndPoint(TransportAddress.Parse(options["address"])));
        Console.WriteLine("READY");
        var output = connection.Transport.Output;
        var span = output.GetSpan(count);
        for (var i = 0; i < count; i++)
        {
            span[i] = CountingByte(i);
        }

        output.Advance(count);
        await output.FlushAsync();
        Console.WriteLine("WROTE");
        await WaitForStdinCloseAsync();
        return 0;
    }

    default:
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
}

static async Task EchoAsync(ConnectionContext connection)
{
    var input = connection.Transport.Input;
    var output = connection.Transport.Output;
    try
    {
        while (true)
        {
            var result = await input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                output.Write(segment.Span);
            }

            input.AdvanceTo(result.Buffer.End);
            var flush = await output.FlushAsync();
            if (result.IsCompleted || flush.IsCompleted)
            {
                break;
            }
        }

        await output.CompleteAsync();
        // Wait for the peer to close its side before the connection is disposed.
        while (!(await input.ReadAsync()).IsCompleted)
        {
        }
    }
    catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
    {
        Console.Error.WriteLine($"echo ended: {e.GetType().Name}: {e.Message}");
    }
}

static byte CountingByte(long index) => (byte)((index * 31) + 7);

static ISandgrainTransport CreateTransport(Dictionary<string, string> options)
{
    var container = GroupContainer.Open(GroupId.Parse(options["group"]), options["container"]);
    return options["transport"] switch
    {
        "unix" => new UnixSocketTransport(container),
        "unix-block" => new UnixSocketTransport(container, new UnixSocketTransportOptions { SpinDuration = TimeSpan.Zero }),
        "shm" => new SharedMemoryTransport(container),
        "shm-park" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.Zero }),
        "shm-doorbell" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.Zero, ForceDoorbell = true, NamedSegments = true }),
        "shm-small" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions { RingCapacity = 4096 }),
        "shm-small-park" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions { RingCapacity = 4096, SpinDuration = TimeSpan.Zero }),
        "mach" when OperatingSystem.IsMacOS() => new MachTransport(container),
        var other => throw new ArgumentException($"unknown transport '{other}'"),
    };
}

static Dictionary<string, string> ParseOptions(string[] args)
{
    var result = new Dictionary<string, string>();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        result[args[i].TrimStart('-')] = args[i + 1];
    }

    return result;
}

static async Task WaitForStdinCloseAsync()
{
    var buffer = new byte[64];
    using var stdin = Console.OpenStandardInput();
    while (await stdin.ReadAsync(buffer) > 0)
    {
    }
}
