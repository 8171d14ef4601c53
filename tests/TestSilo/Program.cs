// A silo hosting the test actors, for cross-process runtime tests. Configuration comes from the command
// line (--Sandgrain:GroupId=…, --Sandgrain:ContainerPath=…, --Sandgrain:Transports:0=shm …). Prints
// "READY <pid>" once it is registered, and runs until killed or its stdin closes; launched as a helper, it
// runs until it goes idle. Two client modes host nothing: --Test:SubscribeTo=<key> subscribes an observer of
// this process to a publisher; --Test:CallOnGo=<key> waits for a line on stdin, then makes its first call;
// --Test:Probe=<key> keeps calls going and times one call per "PROBE" line; --Test:SlowStartMs=<ms> delays the
// silo's start while it already exists. See TestModes for the stress modes.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain;
using Sandgrain.TestActors;

if (TestModes.TryRun(args) is { } mode)
{
    Environment.ExitCode = await mode;
    return;
}

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);

// Logs go to stderr, which tests drain; stdout carries the READY/SUBSCRIBED/ANSWER lines they read.
builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.AddSandgrainUnixSocketTransport();
builder.Services.AddSandgrainSharedMemoryTransport();
if (builder.Configuration["Test:SlowStartMs"] is { } slowStart)
{
    // Registered before the silo, so the silo exists (constructed with the host's services) while this delays its start.
    builder.Services.AddHostedService(_ => new SlowStart(TimeSpan.FromMilliseconds(int.Parse(slowStart, System.Globalization.CultureInfo.InvariantCulture))));
}

var subscribeTo = builder.Configuration["Test:SubscribeTo"];
var callOnGo = builder.Configuration["Test:CallOnGo"];
var probe = builder.Configuration["Test:Probe"];
if (subscribeTo is null && callOnGo is null && probe is null)
{
    builder.UseSandgrain(silo => silo.AddTestActors());
}
else
{
    builder.UseSandgrain();
}

using var host = builder.Build();
await host.StartAsync();
var runtime = host.Services.GetRequiredService<IActorFactory>();
Console.WriteLine($"READY {Environment.ProcessId}");
if (subscribeTo is not null)
{
    var observer = runtime.CreateObjectReference<ITickObserver>(new PrintingObserver());
    await runtime.GetGrain<IPublisherActor>(subscribeTo).Subscribe(observer);
    Console.WriteLine("SUBSCRIBED");
}

if (callOnGo is not null)
{
    Console.WriteLine("WAITING");
    _ = Console.ReadLine();
    var counter = runtime.GetGrain<ICounterActor>(callOnGo);
    var count = await counter.Add(1);
    Console.WriteLine($"ANSWER {count} {await counter.WhereAmI()}");
    await host.StopAsync();
    return;
}

if (probe is not null)
{
    await TestModes.ProbeAsync(runtime, probe);
    await host.StopAsync();
    return;
}

if (Environment.GetEnvironmentVariable("SANDGRAIN_HELPER") is not null)
{
    // Launched as a helper: run until the host stops (idle exit, or killed).
    await host.WaitForShutdownAsync();
    return;
}

// Started by a test: exit when it closes our stdin (or kills us).
await Task.Run(() =>
{
    using var stdin = Console.OpenStandardInput();
    var buffer = new byte[16];
    while (stdin.Read(buffer) > 0)
    {
    }
});
await host.StopAsync();

internal sealed class PrintingObserver : ITickObserver
{
    public Task<string> OnTick(int number) => Task.FromResult($"tick {number} in pid {Environment.ProcessId}");

    public Task Notify(string message) => Task.CompletedTask;
}

/// <summary>A start that takes as long as a loaded machine's might (--Test:SlowStartMs).</summary>
internal sealed class SlowStart(TimeSpan delay) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.Delay(delay, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
