// A program that uses Sandgrain the way its README shows, on no particular platform: it must build with no
// warning (CA1416 included) under a user's default settings. Run with --run to start a silo in a temporary
// container; without it, it only builds the host.
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;
using Sandgrain;
using Sandgrain.Transport;
using Sandgrain.Transport.Mach;
using Sandgrain.Transport.SharedMemory;
using Sandgrain.Transport.UnixSocket;

var container = Path.Combine(Path.GetTempPath(), "sg-consumer-" + Environment.ProcessId);

var builder = Host.CreateApplicationBuilder(args);
builder.Services.AddSandgrainUnixSocketTransport(o => o.MaxReadBufferSize = 1 << 20);
builder.Services.AddSandgrainSharedMemoryTransport(o => o.RingCapacity = 1 << 20);
builder.Services.AddSandgrainMachTransport(o => o.QueueLimit = 64);
builder.Services.Configure<SandgrainOptions>(options =>
{
    options.GroupId = "ABCDE12345.com.example.consumer";
    options.ContainerPath = container;
    options.Transports = ["shm", "unix"];
    options.DefaultCallTimeout = TimeSpan.FromSeconds(10);
});
builder.UseSandgrain(sandgrain => sandgrain.AddActor<IGreeter, Greeter>());
using var host = builder.Build();

if (args.Contains("--run"))
{
    await host.StartAsync();
    var factory = host.Services.GetRequiredService<IActorFactory>();
    Console.WriteLine(await factory.GetGrain<IGreeter>("world").Greet("hello"));
    await host.StopAsync();
    await Transports.EchoOnceAsync(container);
    Directory.Delete(container, recursive: true);
}

// The same runtime through IServiceCollection alone.
var services = new ServiceCollection();
services.AddSandgrain(sandgrain => sandgrain.AddActor<IGreeter, Greeter>());
services.AddSandgrainUnixSocketTransport();
Console.WriteLine($"{services.Count} services registered");

/// <summary>An actor contract, as in the README.</summary>
public interface IGreeter : IGrainWithStringKey
{
    /// <summary>Answers a greeting.</summary>
    Task<string> Greet(string greeting);
}

/// <summary>Its implementation.</summary>
public sealed class Greeter : IGreeter
{
    /// <inheritdoc />
    public Task<string> Greet(string greeting) => Task.FromResult(greeting + ", world");
}

/// <summary>The transports used directly, as other software (Kestrel, Orleans) would.</summary>
internal static class Transports
{
    internal static async Task EchoOnceAsync(string path)
    {
        var container = GroupContainer.Open(GroupId.Parse("ABCDE12345.com.example.consumer"), path);
        ISandgrainTransport[] transports =
        [
            new UnixSocketTransport(container, new UnixSocketTransportOptions { Platform = SandboxPlatform.MacOS }),
            new SharedMemoryTransport(container),
            new MachTransport(container),
        ];
        foreach (var transport in transports.OrderBy(t => t.Preference))
        {
            if (transport.UnsupportedReason is { } reason)
            {
                Console.WriteLine($"{transport.Scheme}: {reason}");
                continue;
            }

            var endpoint = transport.CreateEndPoint(transport.CreateUniqueAddress());
            await using var listener = await transport.BindAsync(endpoint);
            var accept = listener.AcceptAsync().AsTask();
            await using ConnectionContext client = await transport.ConnectAsync(endpoint);
            await using var server = await accept;
            await client.Transport.Output.WriteAsync(new byte[] { 42 });
            var read = await server!.Transport.Input.ReadAsync();
            Console.WriteLine($"{transport.Scheme}: {read.Buffer.FirstSpan[0]}");
            server.Transport.Input.AdvanceTo(read.Buffer.End);
            transport.RemoveStaleEndpoint(TransportAddress.Parse(endpoint.ToString()!));
        }
    }
}
