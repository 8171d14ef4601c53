using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Calls;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Runtime.Messaging;
using Sandgrain.Transport;

namespace Sandgrain.Runtime;

/// <summary>
/// Builds the silo's parts in the one order their dependencies allow (activations and observers, the request
/// handler, connections, placement, the router, the factory, the silo). The two late-bound links — an activation's
/// factory and the invoker its references use — are the only arrows that point back, and they are functions.
/// </summary>
internal sealed class RuntimeParts
{
    internal RuntimeParts(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<SandgrainOptions>>().Value;
        var container = services.GetRequiredService<GroupContainer>();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = (ILogger?)services.GetService<ILoggerFactory>()?.CreateLogger("Sandgrain.Runtime") ?? NullLogger.Instance;
        var identity = SiloIdentity.Create(services.GetRequiredService<LaunchEnvironmentHolder>().Value, container);
        var registry = services.GetRequiredService<SiloRegistry>();

        CallRouter? router = null;
        var directory = new ActivationDirectory(services.GetServices<ActorRegistration>(), services, () => Factory!, () => router!, options, time, logger);
        var observers = new ObserverTable(() => router!);
        var settings = ConnectionSettings.From(options, identity.SiloId, identity.Secret, new IncomingRequests(directory, observers), time, logger);
        var transports = new TransportSet(services.GetServices<ISandgrainTransport>(), options);
        var connections = new ConnectionManager(options, settings, transports, logger);
        var placement = new Placement(options, identity, registry, services.GetRequiredService<HelperLauncher>(), connections, time);
        router = new CallRouter(options, identity, directory, observers, placement, time, logger);
        Factory = new ActorFactory(router, observers, identity);
        Silo = new Silo(options, container, identity, registry, transports, connections, directory, time, logger);
        Identity = identity;
        Directory = directory;
        Connections = connections;
    }

    internal ActorFactory Factory { get; }

    internal Silo Silo { get; }

    internal SiloIdentity Identity { get; }

    internal ActivationDirectory Directory { get; }

    internal ConnectionManager Connections { get; }
}
