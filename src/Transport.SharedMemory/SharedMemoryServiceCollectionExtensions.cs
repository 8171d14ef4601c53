using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandgrain.Transport;
using Sandgrain.Transport.SharedMemory;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the shared-memory transport with the Generic Host.</summary>
public static class SharedMemoryServiceCollectionExtensions
{
    /// <summary>
    /// Adds the shared-memory transport as an <see cref="ISandgrainTransport"/> and as one of Kestrel's listener factories (it binds only its own end points). Needs a <see cref="GroupContainer"/>
    /// in the container (the runtime registers one). Safe to call more than once. A code requirement set for the
    /// Unix-socket transport (<c>UnixSocketTransportOptions.PeerCodeRequirement</c>) holds here too: one setting for
    /// every transport of the host.
    /// </summary>
    public static IServiceCollection AddSandgrainSharedMemoryTransport(this IServiceCollection services, Action<SharedMemoryTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<SharedMemoryTransportOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        // A code requirement set for Unix sockets holds for shared memory too: otherwise a peer it refuses would
        // simply dial the silo's shared-memory address from the registry.
        services.TryAddSingleton<SharedMemoryTransport>(sp => new SharedMemoryTransport(
            sp.GetRequiredService<GroupContainer>(),
            sp.GetRequiredService<IOptions<SharedMemoryTransportOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<PeerCodeRequirementSetting>()?.Requirement));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandgrainTransport, SharedMemoryTransport>(sp => sp.GetRequiredService<SharedMemoryTransport>()));

        // Kestrel's listener factories: it asks each one's CanBind, so this one takes only its own end points.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, SharedMemoryTransport>(sp => sp.GetRequiredService<SharedMemoryTransport>()));
        return services;
    }
}
