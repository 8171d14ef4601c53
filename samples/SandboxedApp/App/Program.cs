// The app: calls devices by name. The DeviceHub helper that owns them is started on the first call, found
// through the registry in the group container afterwards, and started again after it crashes.
// Switch transport with no code change:  dotnet run --project samples/SandboxedApp/App -- --Sandgrain:Transports:0=unix
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sandgrain;
using Sandgrain.Runtime.Discovery;
using SandboxedApp.Contracts;

// Configuration lives next to the executable (inside the bundle on macOS), wherever the app is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.AddSandgrainUnixSocketTransport(o => o.UnsafePreferInlineScheduling = true);
builder.Services.AddSandgrainSharedMemoryTransport(o => o.UnsafePreferInlineScheduling = true);
builder.UseSandgrain();
using var host = builder.Build();
await host.StartAsync();

var factory = host.Services.GetRequiredService<IActorFactory>();
var registry = host.Services.GetRequiredService<SiloRegistry>();
var options = builder.Configuration.GetSection("Sandgrain:Transports").Get<string[]>() ?? [];
Console.WriteLine($"app pid {Environment.ProcessId}, group container {registry.Container.Path}, transports {string.Join(" > ", options)}");

// 1. The first call launches the helper.
var usb = factory.GetGrain<IDeviceActor>("usb:1234");
var watch = Stopwatch.StartNew();
var info = await usb.Open(new OpenOptions { Client = "app" });
var hub = registry.LiveSilos().Single(r => r.Helper == "DeviceHub");
Console.WriteLine($"DeviceHub launched on first call: pid {hub.ProcessId}, first reply after {watch.Elapsed.TotalMilliseconds:F0} ms, listening at {string.Join(", ", hub.Addresses)}");
Console.WriteLine($"  {info.Name}: opened ({info.Opens} opens on record)");

// 2. Calls to several devices, one-way and request/reply.
foreach (var name in new[] { "usb:1234", "usb:5678", "bt:aa:bb" })
{
    var device = factory.GetGrain<IDeviceActor>(name);
    await device.Blink(3);
    var state = await device.Describe();
    Console.WriteLine($"  {state.Name}: blinks {state.Blinks}, heartbeats from the helper's timer {state.Heartbeats}, owned by pid {state.HelperPid}");
}

const int calls = 2000;
watch.Restart();
for (var i = 0; i < calls; i++)
{
    await usb.Describe();
}

Console.WriteLine($"{calls} calls to usb:1234: {watch.Elapsed.TotalMicroseconds / calls:F1} µs per round trip");

// 3. A crash: kill -9 the helper while a call is in flight.
var inFlight = usb.Open(new OpenOptions { Client = "app" });
using (var victim = Process.GetProcessById(hub.ProcessId))
{
    victim.Kill();
    Console.WriteLine($"killed DeviceHub (pid {hub.ProcessId}) with SIGKILL");
}

try
{
    await inFlight;
    Console.WriteLine("  the in-flight call completed before the helper died");
}
catch (ActorUnavailableException e)
{
    Console.WriteLine($"  the in-flight call failed at once: {e.GetType().Name}: {e.Message}");
}

// 4. The next call starts it again; the open count, kept on disk by the helper, survived.
watch.Restart();
var after = await usb.Open(new OpenOptions { Client = "app" });
var relaunched = registry.LiveSilos().Single(r => r.Helper == "DeviceHub");
Console.WriteLine($"next call relaunched DeviceHub: pid {relaunched.ProcessId} after {watch.Elapsed.TotalMilliseconds:F0} ms; {after.Name} has {after.Opens} opens on record, blinks reset to {after.Blinks}");

await host.StopAsync();
using (var helper = Process.GetProcessById(relaunched.ProcessId))
{
    helper.Kill();
}

Console.WriteLine("done");
return 0;
