// The app: calls devices by name and watches frames. The DeviceHub and FrameSource helpers are started on
// the first call to an actor they host, found through the registry in the group container afterwards, and
// started again after a crash. A second app, the Viewer, finds FrameSource through the registry alone.
// Switch transport with no code change:  dotnet run --project samples/SandboxedApp/App -- --Sandgrain:Transports:0=unix
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sandgrain;
using Sandgrain.Transport;
using SandboxedApp.Contracts;

// Configuration lives next to the executable (inside the bundle on macOS), wherever the app is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Services.AddSandgrainUnixSocketTransport();
builder.Services.AddSandgrainSharedMemoryTransport();
builder.UseSandgrain();
using var host = builder.Build();
await host.StartAsync();

var factory = host.Services.GetRequiredService<IActorFactory>();
var silos = host.Services.GetRequiredService<ISiloDirectory>();
var container = host.Services.GetRequiredService<Sandgrain.Transport.GroupContainer>();
var options = builder.Configuration.GetSection("Sandgrain:Transports").Get<string[]>() ?? [];
Console.WriteLine($"app pid {Environment.ProcessId}, group container {container.Path}, transports {string.Join(" > ", options)}");

// 1. The first call launches the helper.
var usb = factory.GetGrain<IDeviceActor>("usb:1234");
var watch = Stopwatch.StartNew();
var info = await usb.Open(new OpenOptions { Client = "app" });
var hub = silos.LiveSilos().Single(r => r.Helper == "DeviceHub");
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

// 3. Frames: FrameSource starts on the first call; pixels go through a shared buffer, only (frame, slot) as messages.
var frameSeconds = builder.Configuration.GetValue("Demo:FrameSeconds", 2.0);
using var receiver = new FrameReceiver(host.Services.GetRequiredService<GroupContainer>());
var observer = factory.CreateObjectReference<IFrameObserver>(receiver);
var camera = factory.GetGrain<IFramePublisher>("camera");
watch.Restart();
var stream = await camera.Subscribe(observer);
Console.WriteLine($"FrameSource launched on first call: pid {stream.PublisherPid}, first reply after {watch.Elapsed.TotalMilliseconds:F0} ms");
receiver.Attach(stream);
Process? viewer = null;
if (builder.Configuration.GetValue("Demo:StartViewer", true))
{
    // A second app, started on its own: it is given the group container and nothing else, and launches nothing.
    var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Viewer")) { RedirectStandardOutput = true };
    start.ArgumentList.Add("--Sandgrain:ContainerPath=" + container.Path);
    start.ArgumentList.Add("--Viewer:Seconds=" + (frameSeconds / 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
    for (var i = 0; i < options.Length; i++)
    {
        start.ArgumentList.Add($"--Sandgrain:Transports:{i}={options[i]}");
    }

    viewer = Process.Start(start)!;
}

await Task.Delay(TimeSpan.FromSeconds(frameSeconds));
await camera.Unsubscribe(observer);
factory.DeleteObjectReference<IFrameObserver>(receiver);
Console.WriteLine($"  {stream.Width}x{stream.Height} BGRA for {frameSeconds:0.#} s: {receiver.Verified} frames verified pixel by pixel, {receiver.Corrupt} corrupt, {receiver.Overwritten} overwritten before checked, {receiver.Gaps} missing; {receiver.FramesPerSecond:F1} frames/s ({receiver.FramesPerSecond * stream.Width * stream.Height * 4 / 1e6:F0} MB/s of pixels through shared memory)");
if (viewer is not null)
{
    while (await viewer.StandardOutput.ReadLineAsync() is { } line)
    {
        Console.WriteLine("  | " + line);
    }

    await viewer.WaitForExitAsync();
    Console.WriteLine($"  | (Viewer exited with {viewer.ExitCode})");
}

var later = await usb.Describe();
Console.WriteLine($"  meanwhile in DeviceHub: {later.Name} counted {later.Heartbeats} heartbeats from the helper's own timer");

// 4. A crash: kill -9 the helper while a call (a 5 s calibration) is in flight.
var inFlight = usb.Calibrate(5_000);
await Task.Delay(100);
using (var victim = Process.GetProcessById(hub.ProcessId))
{
    victim.Kill();
    watch.Restart();
}

Console.WriteLine($"killed DeviceHub (pid {hub.ProcessId}) with SIGKILL during a 5 s call");

try
{
    await inFlight;
    Console.WriteLine("  the in-flight call completed before the helper died (it should not have)");
}
catch (ActorUnavailableException e)
{
    Console.WriteLine($"  the in-flight call failed {watch.Elapsed.TotalMilliseconds:F1} ms after the kill: {e.GetType().Name}: {e.Message}");
}

// 5. The next call starts it again; the open count, kept on disk by the helper, survived.
watch.Restart();
var after = await usb.Open(new OpenOptions { Client = "app" });
var relaunched = silos.LiveSilos().Single(r => r.Helper == "DeviceHub");
Console.WriteLine($"next call relaunched DeviceHub: pid {relaunched.ProcessId} after {watch.Elapsed.TotalMilliseconds:F0} ms; {after.Name} has {after.Opens} opens on record, blinks reset to {after.Blinks}");

await host.StopAsync();

// The helpers would exit by themselves after their idle timeout (30 s); the demo does not wait for that.
foreach (var pid in new[] { relaunched.ProcessId, stream.PublisherPid })
{
    try
    {
        using var helper = Process.GetProcessById(pid);
        helper.Kill();
    }
    catch (ArgumentException)
    {
        // Already gone.
    }
}

var ok = receiver.Corrupt == 0 && receiver.Verified > 0 && (viewer is null || viewer.ExitCode == 0);
Console.WriteLine(ok ? "done" : "FAILED: frames were corrupt or missing");
return ok ? 0 : 1;
