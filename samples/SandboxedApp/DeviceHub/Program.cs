// DeviceHub: the helper that owns the (pretend) hardware. The app never starts it by hand: Sandgrain's
// launcher starts it on the first call to an IDeviceActor, passing the group container, the app group and
// its silo id in the environment. Everything else comes from the same Sandgrain configuration as the app.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sandgrain;
using SandboxedApp.Contracts;
using SandboxedApp.DeviceHub;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSandgrainUnixSocketTransport();
builder.Services.AddSandgrainSharedMemoryTransport();
builder.UseSandgrain(silo => silo.AddActor<IDeviceActor, DeviceActor>());
await builder.Build().RunAsync();
