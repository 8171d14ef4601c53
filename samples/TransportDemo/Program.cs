// Two processes over the Unix-socket transport: this program starts a copy of itself as a helper that
// listens in the group container, connects to it, exchanges messages, then kills the helper with SIGKILL
// and shows that the connection notices at once. It prints what it did and exits 0.
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using Sandgrain.Transport;
using Sandgrain.Transport.UnixSocket;

const string Group = "ABCDE12345.com.example.sandgrain";

if (args is ["serve", var containerPath, var listenAddress])
{
    var container = GroupContainer.Open(GroupId.Parse(Group), containerPath);
    var transport = new UnixSocketTransport(container);
    await using var listener = await transport.BindAsync(transport.CreateEndPoint(TransportAddress.Parse(listenAddress)));
    Console.WriteLine("READY");
    while (await listener.AcceptAsync() is { } connection)
    {
        _ = Task.Run(async () =>
        {
            // Echo every frame back with its bytes reversed, so the reply proves the helper did the work.
            while (await ReadFrameAsync(connection.Transport.Input) is { } frame)
            {
                Array.Reverse(frame);
                await WriteFrameAsync(connection.Transport.Output, frame);
            }
        });
    }

    return 0;
}

var root = Path.Combine(Path.GetTempPath(), "sandgrain-demo-" + Environment.ProcessId);
try
{
    var container = GroupContainer.Open(GroupId.Parse(Group), root);
    var transport = new UnixSocketTransport(container);
    var address = transport.CreateUniqueAddress();
    Console.WriteLine($"group container: {container.Path}");

    var launch = Stopwatch.StartNew();
    var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (var a in new[] { "serve", container.Path, address.ToString() })
    {
        start.ArgumentList.Add(a);
    }

    using var helper = Process.Start(start)!;
    if (await helper.StandardOutput.ReadLineAsync() != "READY")
    {
        Console.Error.WriteLine("the helper did not start");
        return 1;
    }

    await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(address));
    var peer = connection.Features.Get<IPeerIdentityFeature>()!;
    Console.WriteLine($"helper started: pid {helper.Id}, listening at {address}, connected after {launch.Elapsed.TotalMilliseconds:F0} ms (kernel says peer pid {peer.ProcessId}, uid {peer.UserId})");

    var rtt = Stopwatch.StartNew();
    const int calls = 10_000;
    for (var i = 0; i < calls; i++)
    {
        var message = BitConverter.GetBytes(i);
        await WriteFrameAsync(connection.Transport.Output, message);
        var reply = await ReadFrameAsync(connection.Transport.Input) ?? throw new InvalidOperationException("the helper hung up");
        Array.Reverse(reply);
        if (BitConverter.ToInt32(reply) != i)
        {
            throw new InvalidOperationException($"reply {i} was wrong");
        }
    }

    Console.WriteLine($"{calls} request/reply round trips checked: {rtt.Elapsed.TotalMicroseconds / calls:F1} µs each on average");

    var big = new byte[16 << 20];
    Random.Shared.NextBytes(big);
    var bulk = Stopwatch.StartNew();
    await WriteFrameAsync(connection.Transport.Output, big);
    var bigReply = await ReadFrameAsync(connection.Transport.Input) ?? throw new InvalidOperationException("the helper hung up");
    Array.Reverse(bigReply);
    Console.WriteLine($"16 MiB sent and returned intact: {bigReply.AsSpan().SequenceEqual(big)} ({2 * big.Length / bulk.Elapsed.TotalSeconds / 1e6:F0} MB/s both ways)");

    var killed = Stopwatch.StartNew();
    helper.Kill();
    var noticed = new TaskCompletionSource();
    using (connection.ConnectionClosed.Register(() => noticed.TrySetResult()))
    {
        await noticed.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    Console.WriteLine($"helper killed with SIGKILL: the connection noticed after {killed.Elapsed.TotalMilliseconds:F1} ms");
    try
    {
        await WriteFrameAsync(connection.Transport.Output, [1]);
        await WriteFrameAsync(connection.Transport.Output, new byte[1 << 20]);
        Console.WriteLine("a write after the helper died was not refused");
        return 1;
    }
    catch (Exception e) when (e is IOException or InvalidOperationException)
    {
        Console.WriteLine($"the next write fails at once: {e.GetType().Name}: {e.Message}");
    }

    Console.WriteLine("done");
    return 0;
}
finally
{
    try
    {
        Directory.Delete(root, recursive: true);
    }
    catch (IOException)
    {
    }
}

static async Task WriteFrameAsync(PipeWriter output, byte[] payload)
{
    BinaryPrimitives.WriteInt32LittleEndian(output.GetSpan(4), payload.Length);
    output.Advance(4);
    output.Write(payload);
    await output.FlushAsync();
}

static async Task<byte[]?> ReadFrameAsync(PipeReader input)
{
    var header = new byte[4];
    while (true)
    {
        var result = await input.ReadAsync();
        var buffer = result.Buffer;
        if (buffer.Length >= 4)
        {
            buffer.Slice(0, 4).CopyTo(header);
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            if (buffer.Length >= 4 + (long)length)
            {
                var frame = buffer.Slice(4, length).ToArray();
                input.AdvanceTo(buffer.GetPosition(4 + length));
                return frame;
            }
        }

        if (result.IsCompleted)
        {
            input.AdvanceTo(buffer.End);
            return null;
        }

        input.AdvanceTo(buffer.Start, buffer.End);
    }
}
