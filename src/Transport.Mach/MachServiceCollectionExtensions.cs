using System.Runtime.Versioning;
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
    /// Adds the Mach transport as an <see cref="ISandgrainTransport"/>. Needs a <see cref="GroupContainer"/> in the
    /// container (the runtime registers one). Safe to call more than once.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">
    /// Not running on macOS: selecting this transport elsewhere fails here, while the host is configured, rather
    /// than at its first use.
    /// </exception>
    [SupportedOSPlatform("macos")]
    public static IServiceCollection AddSandgrainMachTransport(this IServiceCollection services, Action<MachTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!OperatingSystem.IsMacOS())
        {
            throw new PlatformNotSupportedException(MachTransport.NotSupportedMessage);
        }

        services.AddOptions<MachTransportOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<MachTransport>(sp => new MachTransport(
            sp.GetRequiredService<GroupContainer>(),
            sp.GetRequiredService<IOptions<MachTransportOptions>>().Value,
            sp.GetService<ILoggerFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandgrainTransport, MachTransport>(sp => sp.GetRequiredService<MachTransport>()));
        return services;
    }
}
