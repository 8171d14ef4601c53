// FrameSource: the helper that produces video frames (the Syphon case, seed 000). Launched by Sandgrain on
// the first call to an IFramePublisher; any app of the group that finds it in the registry can subscribe.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain;
using SandboxedApp.Contracts;
using SandboxedApp.FrameSource;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.Configure<FrameSourceOptions>(builder.Configuration.GetSection("FrameSource"));
builder.Services.AddSandgrainUnixSocketTransport();
builder.Services.AddSandgrainSharedMemoryTransport();
builder.UseSandgrain(silo => silo.AddActor<IFramePublisher, FramePublisher>());
await builder.Build().RunAsync();
