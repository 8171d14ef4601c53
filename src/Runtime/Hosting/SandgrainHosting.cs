using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Sandgrain.Runtime;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Discovery;
using Sandgrain.Transport;

namespace Sandgrain;

/// <summary>Configures the actors a silo hosts.</summary>
public interface ISandgrainBuilder
{
    /// <summary>The services being configured.</summary>
    IServiceCollection Services { get; }

    /// <summary>
    /// Hosts <typeparamref name="TInterface"/> in this silo, implemented by <typeparamref name="TImplementation"/>
    /// (created through DI; it may take an <see cref="IActorContext"/>). Mark the class <c>[Reentrant]</c> to let
    /// its requests interleave.
    /// </summary>
    ISandgrainBuilder AddActor<TInterface, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TImplementation>()
        where TInterface : class
        where TImplementation : class, TInterface;
}

/// <summary>Adds Sandgrain to the Generic Host.</summary>
public static class SandgrainServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Sandgrain runtime (silo, registry, launcher, <see cref="IActorFactory"/>). Options come from
    /// <see cref="SandgrainOptions"/>; with <see cref="UseSandgrain"/> they bind from the <c>Sandgrain</c>
    /// configuration section. Register at least one transport as well. Safe to call more than once.
    /// </summary>
    public static IServiceCollection AddSandgrain(this IServiceCollection services, Action<ISandgrainBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(Silo)))
        {
            services.AddOptions<SandgrainOptions>().ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SandgrainOptions>, SandgrainOptionsValidator>());
            services.TryAddSingleton(_ => new LaunchEnvironmentHolder(LaunchEnvironment.FromEnvironment()));
            services.TryAddSingleton(TimeProvider.System);
            services.TryAddSingleton(sp =>
            {
                var options = sp.GetRequiredService<IOptions<SandgrainOptions>>().Value;
                var launch = sp.GetRequiredService<LaunchEnvironmentHolder>().Value;
                return GroupContainer.Open(GroupId.Parse(launch?.GroupId ?? options.GroupId!), launch?.ContainerPath ?? options.ContainerPath);
            });
            services.TryAddSingleton(sp => new SiloRegistry(sp.GetRequiredService<GroupContainer>(), sp.GetService<ILogger<SiloRegistry>>(), sp.GetServices<ISandgrainTransport>()));
            services.TryAddSingleton(sp => new HelperLauncher(
                sp.GetRequiredService<GroupContainer>(),
                sp.GetRequiredService<SiloRegistry>(),
                sp.GetRequiredService<IOptions<SandgrainOptions>>().Value.Helpers,
                sp.GetService<ILogger<HelperLauncher>>(),
                timeProvider: sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton<ISiloDirectory>(sp => new SiloDirectory(sp.GetRequiredService<SiloRegistry>(), sp.GetRequiredService<HelperLauncher>()));
            services.TryAddSingleton(sp => new RuntimeParts(sp));
            services.TryAddSingleton(sp => sp.GetRequiredService<RuntimeParts>().Silo);
            services.TryAddSingleton<IActorFactory>(sp => sp.GetRequiredService<RuntimeParts>().Factory);
            services.TryAddScoped<ActorContextHolder>();
            services.TryAddScoped<IActorContext>(sp => sp.GetRequiredService<ActorContextHolder>().Context
                ?? throw new InvalidOperationException("IActorContext is available only to actor implementations (inside an activation)."));
            services.AddHostedService<SiloHost>();
        }

        configure?.Invoke(new SandgrainBuilder(services));
        return services;
    }

    /// <summary>
    /// Adds Sandgrain to a host application and binds <see cref="SandgrainOptions"/> from its <c>Sandgrain</c>
    /// configuration section, so that switching transport is a configuration change.
    /// </summary>
    public static IHostApplicationBuilder UseSandgrain(this IHostApplicationBuilder builder, Action<ISandgrainBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddSandgrain(configure);
        builder.Services.Configure<SandgrainOptions>(builder.Configuration.GetSection(SandgrainOptions.SectionName));
        return builder;
    }

    private sealed class SandgrainBuilder(IServiceCollection services) : ISandgrainBuilder
    {
        public IServiceCollection Services { get; } = services;

        public ISandgrainBuilder AddActor<TInterface, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TImplementation>()
            where TInterface : class
            where TImplementation : class, TInterface
        {
            Services.AddSingleton(new ActorRegistration(
                typeof(TInterface),
                typeof(TImplementation),
                static sp => ActivatorUtilities.CreateInstance<TImplementation>(sp),
                typeof(TImplementation).IsDefined(typeof(ReentrantAttribute), inherit: true)));
            return this;
        }
    }
}

/// <summary>The launcher's environment for this process, or null when it was not launched as a helper.</summary>
internal sealed record LaunchEnvironmentHolder(LaunchEnvironment? Value);

/// <summary>Validates <see cref="SandgrainOptions"/> at start-up with messages that say what to change.</summary>
internal sealed class SandgrainOptionsValidator(LaunchEnvironmentHolder launch) : IValidateOptions<SandgrainOptions>
{
    public ValidateOptionsResult Validate(string? name, SandgrainOptions options)
    {
        if (launch.Value is not null && options.GroupId is null)
        {
            // A helper learns its group from the launcher.
            options.GroupId = launch.Value.GroupId;
        }

        return options.Validate() is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }
}

/// <summary>Starts and stops the silo with the host; a helper that goes idle stops the host.</summary>
internal sealed class SiloHost(Silo silo, IHostApplicationLifetime lifetime) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        silo.IdleExpired += lifetime.StopApplication;
        return silo.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => silo.StopAsync(cancellationToken);
}
