using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Sandgrain.Transport;
using Sandgrain.Transport.SharedMemory;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Bench;

/// <summary>Raw-frame echo over one transport, across two processes.</summary>
internal static class TransportBench
{
    private const string Group = "ABCDE12345.com.example.bench";
    private const int SmallPayload = 64;
    private const int BulkPayload = 1 << 20;

    public static async Task<int> RunClientAsync(BenchOptions options)
    {
        var transportName = options.Get("transport", "unix");
        var w1Calls = options.GetInt("w1-calls", 100_000);
        var w1Warmup = options.GetInt("w1-warmup", 10_000);
        var w3Calls = options.GetInt("w3-calls", 2_000);
        var root = Path.Combine("/tmp", "sg-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var container = GroupContainer.Open(GroupId.Parse(Group), root);
            var transport = CreateTransport(transportName, container);
            var address = transport.CreateUniqueAddress();

            using var server = StartServer(transportName, container, address);
            await using var connection = await transport.ConnectAsync(transport.CreateEndPoint(address));

            // Both ends read on the receive thread: the ping-pong loops never block it.
            connection.Features.Get<IReceiveThreadFeature>()?.ReadInline();
            var peer = $"sandgrain-transport-{transportName}";
            var note = Report.BuildNote(transportName switch
            {
                "shm" => "inline-scheduling,spin-50us,1MiB-rings",
                "shm-nospin" => "inline-scheduling,spin-0,futex,1MiB-rings",
                _ => "inline-scheduling",
            });

            var rtts = await PingAsync(connection, w1Warmup, w1Calls);
            Array.Sort(rtts);
            Report.Line(peer, "W1", Percentile(rtts, 0.50), "us_p50", note);
            Report.Line(peer, "W1", Percentile(rtts, 0.99), "us_p99", note);
            Report.Line(peer, "W1", Percentile(rtts, 0.999), "us_p999", note);

            await BulkAsync(connection, 20); // warm-up
            var elapsed = await BulkAsync(connection, w3Calls);
            Report.Line(peer, "W3", (double)w3Calls * BulkPayload / elapsed.TotalSeconds / 1e6, "MB_per_s", note);

            server.Kill();
            await server.WaitForExitAsync();
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
    }

    public static async Task<int> RunServerAsync(BenchOptions options)
    {
        var container = GroupContainer.Open(GroupId.Parse(Group), options.Require("container"));
        var transport = CreateTransport(options.Require("transport"), container);
        await using var listener = await transport.BindAsync(transport.CreateEndPoint(TransportAddress.Parse(options.Require("address"))));
        Console.WriteLine("READY");
        while (await listener.AcceptAsync() is { } connection)
        {
            connection.Features.Get<IReceiveThreadFeature>()?.ReadInline();
            _ = Task.Run(() => ServeAsync(connection));
        }

        return 0;
    }

    internal static ISandgrainTransport CreateTransport(string name, GroupContainer container) => name switch
    {
        // The runtime reads with a loop that never blocks, so the benchmark schedules as the runtime does.
        "unix" => new UnixSocketTransport(container, new UnixSocketTransportOptions()),
        "shm" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions()),
        "shm-nospin" => new SharedMemoryTransport(container, new SharedMemoryTransportOptions { SpinDuration = TimeSpan.Zero }),
        "mach" when OperatingSystem.IsMacOS() => new Sandgrain.Transport.Mach.MachTransport(container),
        _ => throw new ArgumentException($"unknown transport '{name}' (known: unix, shm, shm-nospin{(OperatingSystem.IsMacOS() ? ", mach" : "; mach needs macOS")})"),
    };

    private static Process StartServer(string transport, GroupContainer container, TransportAddress address)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "transport-server", "--transport", transport, "--container", container.Path, "--address", address.ToString() })
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLine();
        if (line != "READY")
        {
            throw new InvalidOperationException($"benchmark server did not start: '{line}'");
        }

        return process;
    }

    /// <summary>Echoes small frames back; answers large ones with their length only (the Sink of the contract).</summary>
    private static async Task ServeAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                var wrote = false;
                while (TryReadFrame(ref buffer, out var frame))
                {
                    if (frame.Length <= 64 * 1024)
                    {
                        WriteHeader(output, (int)frame.Length);
                        foreach (var segment in frame)
                        {
                            output.Write(segment.Span);
                        }
                    }
                    else
                    {
                        WriteHeader(output, 4);
                        BinaryPrimitives.WriteInt32LittleEndian(output.GetSpan(4), (int)frame.Length);
                        output.Advance(4);
                    }

                    wrote = true;
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                if (wrote)
                {
                    await output.FlushAsync();
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (ConnectionResetException)
        {
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    private static async Task<double[]> PingAsync(ConnectionContext connection, int warmup, int calls)
    {
        var payload = new byte[SmallPayload];
        var rtts = new double[calls];
        var ticksToUs = 1e6 / Stopwatch.Frequency;
        for (var i = -warmup; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            WriteHeader(connection.Transport.Output, payload.Length);
            connection.Transport.Output.Write(payload);
            await connection.Transport.Output.FlushAsync();
            await ReadReplyAsync(connection.Transport.Input);
            if (i >= 0)
            {
                rtts[i] = (Stopwatch.GetTimestamp() - start) * ticksToUs;
            }
        }

        return rtts;
    }

    private static async Task<TimeSpan> BulkAsync(ConnectionContext connection, int calls)
    {
        var payload = new byte[BulkPayload];
        Random.Shared.NextBytes(payload);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < calls; i++)
        {
            WriteHeader(connection.Transport.Output, payload.Length);
            connection.Transport.Output.Write(payload);
            await connection.Transport.Output.FlushAsync();
            await ReadReplyAsync(connection.Transport.Input);
        }

        return watch.Elapsed;
    }

    private static async ValueTask ReadReplyAsync(PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            if (TryReadFrame(ref buffer, out _))
            {
                input.AdvanceTo(buffer.Start);
                return;
            }

            if (result.IsCompleted)
            {
                throw new EndOfStreamException("the benchmark server closed the connection");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static void WriteHeader(PipeWriter output, int length)
    {
        BinaryPrimitives.WriteInt32LittleEndian(output.GetSpan(4), length);
        output.Advance(4);
    }

    private static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(header);
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (buffer.Length < 4 + (long)length)
        {
            return false;
        }

        frame = buffer.Slice(4, length);
        buffer = buffer.Slice(4 + length);
        return true;
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
