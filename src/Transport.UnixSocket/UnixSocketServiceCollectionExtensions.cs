using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandgrain.Transport;
using Sandgrain.Transport.UnixSocket;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Unix-domain-socket transport with the Generic Host.</summary>
public static class UnixSocketServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Unix-socket transport as an <see cref="ISandgrainTransport"/> and as one of Kestrel's listener factories (it binds only its own end points). Needs a <see cref="GroupContainer"/>
    /// in the container (the runtime registers one). Safe to call more than once.
    /// </summary>
    public static IServiceCollection AddSandgrainUnixSocketTransport(this IServiceCollection services, Action<UnixSocketTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<UnixSocketTransportOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        // The requirement, where the other transports of the host look for it (see PeerCodeRequirementSetting).
        services.TryAddSingleton(sp => new PeerCodeRequirementSetting(sp.GetRequiredService<IOptions<UnixSocketTransportOptions>>().Value.PeerCodeRequirement));
        services.TryAddSingleton<UnixSocketTransport>(sp => new UnixSocketTransport(
            sp.GetRequiredService<GroupContainer>(),
            sp.GetRequiredService<IOptions<UnixSocketTransportOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandgrainTransport, UnixSocketTransport>(sp => sp.GetRequiredService<UnixSocketTransport>()));

        // Kestrel's listener factories: it asks each one's CanBind, so this one takes only its own end points.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, UnixSocketTransport>(sp => sp.GetRequiredService<UnixSocketTransport>()));
        return services;
    }
}
