using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandgrain.Transport;
using Sandgrain.Transport.Mach;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Mach-port transport with the Generic Host.</summary>
public static class MachServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Mach transport as an <see cref="ISandgrainTransport"/> and as one of Kestrel's listener factories (it binds only its own end points). Needs a <see cref="GroupContainer"/> in the
    /// container (the runtime registers one). Safe to call more than once.
    /// </summary>
    /// <remarks>
    /// Registering works on every platform, so that one program can register every transport and choose among them
    /// in configuration. Off macOS the transport reports that it needs macOS through
    /// <see cref="ISandgrainTransport.UnsupportedReason"/>, which the host checks when the transport is selected, and
    /// binding or connecting with it throws <see cref="PlatformNotSupportedException"/>.
    /// </remarks>
    public static IServiceCollection AddSandgrainMachTransport(this IServiceCollection services, Action<MachTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<MachTransportOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<MachTransport>(sp => new MachTransport(
            sp.GetRequiredService<GroupContainer>(),
            sp.GetRequiredService<IOptions<MachTransportOptions>>().Value,
            sp.GetService<ILoggerFactory>(),
            sp.GetService<PeerCodeRequirementSetting>()?.Requirement));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandgrainTransport, MachTransport>(sp => sp.GetRequiredService<MachTransport>()));

        // Kestrel's listener factories: it asks each one's CanBind, so this one takes only its own end points.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, MachTransport>(sp => sp.GetRequiredService<MachTransport>()));
        return services;
    }
}
