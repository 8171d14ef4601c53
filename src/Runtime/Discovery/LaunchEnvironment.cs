namespace Sandgrain.Runtime.Discovery;

/// <summary>
/// What the launcher tells a helper it starts, through environment variables: the group container, the app
/// group, the helper's name and the silo id it must register under.
/// </summary>
/// <param name="ContainerPath">The group container folder.</param>
/// <param name="GroupId">The app group id.</param>
/// <param name="Helper">The helper's catalog name.</param>
/// <param name="SiloId">The silo id to publish the record under; the launcher waits for exactly this id.</param>
/// <param name="IdleTimeout">How long the helper stays up with no connections and no activations (from the catalog).</param>
internal sealed record LaunchEnvironment(string ContainerPath, string GroupId, string Helper, string SiloId, TimeSpan? IdleTimeout = null)
{
    /// <summary>Environment variable carrying the idle timeout in milliseconds.</summary>
    public const string IdleTimeoutVariable = "SANDGRAIN_IDLE_TIMEOUT_MS";

    /// <summary>Environment variable naming the group container.</summary>
    public const string ContainerVariable = "SANDGRAIN_CONTAINER";

    /// <summary>Environment variable naming the app group id.</summary>
    public const string GroupIdVariable = "SANDGRAIN_GROUP_ID";

    /// <summary>Environment variable naming the helper.</summary>
    public const string HelperVariable = "SANDGRAIN_HELPER";

    /// <summary>Environment variable carrying the silo id.</summary>
    public const string SiloIdVariable = "SANDGRAIN_SILO_ID";

    /// <summary>Reads the launch environment; null when this process was not launched as a helper.</summary>
    /// <exception cref="InvalidOperationException">Only some of the variables are set, or a value is malformed.</exception>
    public static LaunchEnvironment? FromEnvironment()
    {
        var container = Environment.GetEnvironmentVariable(ContainerVariable);
        var group = Environment.GetEnvironmentVariable(GroupIdVariable);
        var helper = Environment.GetEnvironmentVariable(HelperVariable);
        var silo = Environment.GetEnvironmentVariable(SiloIdVariable);
        if (container is null && group is null && helper is null && silo is null)
        {
            return null;
        }

        if (string.IsNullOrEmpty(container) || string.IsNullOrEmpty(group) || string.IsNullOrEmpty(helper) || string.IsNullOrEmpty(silo))
        {
            throw new InvalidOperationException($"This process was started with only some of {ContainerVariable}, {GroupIdVariable}, {HelperVariable} and {SiloIdVariable} set; a helper is started by the Sandgrain launcher, which sets all four.");
        }

        if (!SiloRecord.IsValidSiloId(silo) || !HelperLauncher.IsValidHelperName(helper))
        {
            throw new InvalidOperationException($"{SiloIdVariable}='{silo}' or {HelperVariable}='{helper}' is malformed.");
        }

        TimeSpan? idle = long.TryParse(Environment.GetEnvironmentVariable(IdleTimeoutVariable), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0
            ? TimeSpan.FromMilliseconds(ms)
            : null;
        return new LaunchEnvironment(container, group, helper, silo, idle);
    }

    internal void ApplyTo(IDictionary<string, string?> environment)
    {
        environment[ContainerVariable] = ContainerPath;
        environment[GroupIdVariable] = GroupId;
        environment[HelperVariable] = Helper;
        environment[SiloIdVariable] = SiloId;
        if (IdleTimeout is { } idle)
        {
            environment[IdleTimeoutVariable] = ((long)idle.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
