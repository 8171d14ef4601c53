// The Viewer: a second app of the same app group, started on its own. It launches nothing: it finds the
// FrameSource helper another app started through the registry in the group container (the sandbox strips
// payloads from distributed notifications, so discovery is by files), subscribes, and checks the frames.
//   dotnet run --project samples/SandboxedApp/Viewer -- --Viewer:Seconds=5
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sandgrain;
using Sandgrain.Transport;
using SandboxedApp.Contracts;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.Sources.Clear();
builder.Configuration.AddJsonFile("viewer.appsettings.json", optional: false).AddEnvironmentVariables().AddCommandLine(args);
builder.Services.AddSandgrainUnixSocketTransport();
builder.Services.AddSandgrainSharedMemoryTransport();
builder.UseSandgrain();
using var host = builder.Build();
await host.StartAsync();

var factory = host.Services.GetRequiredService<IActorFactory>();
var silos = host.Services.GetRequiredService<ISiloDirectory>();
var container = host.Services.GetRequiredService<Sandgrain.Transport.GroupContainer>();
var source = builder.Configuration["Viewer:Source"] ?? "camera";
var seconds = builder.Configuration.GetValue("Viewer:Seconds", 2.0);
var wait = TimeSpan.FromSeconds(builder.Configuration.GetValue("Viewer:WaitSeconds", 30.0));
Console.WriteLine($"viewer pid {Environment.ProcessId}: looking for IFramePublisher in the registry of {container.Path}");

// No helper is configured here, so a call to IFramePublisher only goes to a silo the registry lists.
var publisher = factory.GetGrain<IFramePublisher>(source);
using var receiver = new FrameReceiver(host.Services.GetRequiredService<GroupContainer>());
var observer = factory.CreateObjectReference<IFrameObserver>(receiver);
var waited = Stopwatch.StartNew();
FrameStream stream;
while (true)
{
    try
    {
        stream = await publisher.Subscribe(observer);
        break;
    }
    catch (ActorNotHostedException) when (waited.Elapsed < wait)
    {
        await Task.Delay(200);
    }
    catch (ActorNotHostedException e)
    {
        Console.Error.WriteLine($"viewer: no FrameSource appeared in the registry within {wait.TotalSeconds:0} s: {e.Message}");
        return 3;
    }
}

receiver.Attach(stream);
var host0 = silos.LiveSilos().First(r => r.ActorTypes.Any(t => t.EndsWith("IFramePublisher", StringComparison.Ordinal)));
Console.WriteLine($"viewer: found FrameSource (pid {host0.ProcessId}) through the registry, launched nothing; subscribed to {stream.Width}x{stream.Height} BGRA frames");
await Task.Delay(TimeSpan.FromSeconds(seconds));
await publisher.Unsubscribe(observer);
factory.DeleteObjectReference<IFrameObserver>(receiver);
Console.WriteLine($"viewer: {receiver.Verified} frames verified, {receiver.Corrupt} corrupt, {receiver.Overwritten} overwritten before checked, {receiver.FramesPerSecond:F1} frames/s");
await host.StopAsync();
return receiver.Corrupt == 0 && receiver.Verified > 0 ? 0 : 1;
