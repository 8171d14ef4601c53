using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport.Interop;
using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>
/// The Mach-port transport (macOS): a listener checks in the bootstrap name <c>&lt;group-id&gt;.sg.&lt;name&gt;</c>
/// and each connection is a pair of ports, addressed as <c>mach:&lt;full service name&gt;</c>.
/// </summary>
/// <remarks>
/// <para>
/// The App Sandbox lets a process register and look up only names that start with its app group id and a dot
/// (sandbox-facts §2), so every address is checked against that rule and the 127-byte bootstrap name limit
/// before any call. A connect looks the name up, sends a request carrying a send right to a new receive port,
/// and gets back a send right to a per-connection port; each side pins the other's audit token from the
/// handshake and refuses peers of another user. Large writes travel as out-of-line memory.
/// </para>
/// <para>
/// The transport needs Mach IPC. It can be constructed and registered everywhere, and checks its names
/// everywhere, so that a configuration meant for a Mac fails on Linux the same way; elsewhere
/// <see cref="UnsupportedReason"/> says that it needs macOS, and binding or connecting throws
/// <see cref="PlatformNotSupportedException"/> with that message.
/// </para>
/// </remarks>
public sealed class MachTransport : ISandgrainTransport
{
    /// <summary>The address scheme of this transport: <c>mach</c>.</summary>
    public const string AddressScheme = "mach";

    /// <summary>This transport's <see cref="ISandgrainTransport.Preference"/>: after shared memory, before Unix sockets.</summary>
    internal const int DefaultPreference = 200;

    internal const string NotSupportedMessage = "The Mach transport needs macOS (Mach IPC); on this platform use 'unix' or 'shm'.";

    // Names this process has checked in: launchd cannot say which process holds a name, so a second bind of
    // one of these is refused at once instead of being mistaken for a stale registration.
    private static readonly ConcurrentDictionary<string, byte> s_listening = new(StringComparer.Ordinal);

    private readonly MachTransportOptions _options;
    private readonly ILogger _logger;
    private readonly string? _uncheckedRequirement;

    /// <summary>Creates the transport for the app group of <paramref name="container"/>, on any platform (see <see cref="UnsupportedReason"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    /// <exception cref="SandboxNameException">The app group id leaves no room for Sandgrain's Mach names.</exception>
    public MachTransport(GroupContainer container, MachTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(container, options, loggerFactory, uncheckedPeerCodeRequirement: null)
    {
    }

    /// <param name="container">The group container.</param>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">Where the transport logs.</param>
    /// <param name="uncheckedPeerCodeRequirement">A code requirement the host's other transports check, which this one cannot: it then declares itself unsupported, so that it carries no connection that would bypass it.</param>
    internal MachTransport(GroupContainer container, MachTransportOptions? options, ILoggerFactory? loggerFactory, string? uncheckedPeerCodeRequirement)
    {
        _uncheckedRequirement = uncheckedPeerCodeRequirement;
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        _options = options ?? new MachTransportOptions();
        _options.Validate();
        _logger = (ILogger?)loggerFactory?.CreateLogger("Sandgrain.Transport.Mach") ?? NullLogger.Instance;
        OwnUserId = UserAccount.EffectiveUserId;

        // Refuse at configuration time an app group whose generated names cannot fit.
        _ = CreateEndPoint(TransportAddress.Create(AddressScheme, $"{container.GroupId}.{MachEndPoint.SandgrainSegment}.00000000"));
    }

    /// <summary>The group container; its app group id is the prefix of every Mach name.</summary>
    public GroupContainer Container { get; }

    /// <inheritdoc />
    public string Scheme => AddressScheme;

    /// <inheritdoc />
    public int Preference => DefaultPreference;

    /// <inheritdoc />
    /// <remarks>
    /// Null on macOS; elsewhere "The Mach transport needs macOS (Mach IPC); …". Also not null where the host sets a
    /// code requirement for its peers (<c>UnixSocketTransportOptions.PeerCodeRequirement</c>): this transport does not
    /// check one yet, so listing it in <c>Sandgrain:Transports</c> then fails at start, and it is left out otherwise.
    /// </remarks>
    public string? UnsupportedReason => _uncheckedRequirement is { } requirement
        ? $"The Mach transport does not check a peer's code signature, and this host requires '{requirement}' of its peers (UnixSocketTransportOptions.PeerCodeRequirement): Mach connections would bypass it. Leave mach out of Sandgrain:Transports (the Unix-socket and shared-memory transports check it)."
        : IsSupported ? null : NotSupportedMessage;

    [SupportedOSPlatformGuard("macos")]
    private static bool IsSupported => OperatingSystem.IsMacOS();

    internal uint OwnUserId { get; }

    /// <inheritdoc />
    public EndPoint CreateEndPoint(TransportAddress address) => MachEndPoint.Create(Container.GroupId, address);

    /// <inheritdoc />
    public TransportAddress CreateUniqueAddress() => MachEndPoint.CreateUniqueAddress(Container.GroupId);

    /// <inheritdoc />
    /// <remarks>Checks the address only: a Mach name is released by the kernel when its holder dies, so nothing is left to remove.</remarks>
    /// <exception cref="ArgumentException">The address has another scheme or breaks the Mach name rules.</exception>
    public void RemoveStaleEndpoint(TransportAddress address) => _ = CreateEndPoint(address);

    /// <summary>True for this transport's own end points only (<see cref="MachEndPoint"/>): Kestrel asks before it binds, so it can share one server with other transports.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is MachEndPoint;

    /// <inheritdoc />
    /// <exception cref="PlatformNotSupportedException">Not running on macOS.</exception>
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var mach = AsOwnEndPoint(endpoint);
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException(NotSupportedMessage);
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(_options.StaleNameTimeout.TotalSeconds * Stopwatch.Frequency);
        var waitLogged = false;
        var unexplainedDenials = 0;
        uint servicePort;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (s_listening.ContainsKey(mach.ServiceName))
            {
                throw MachErrors.InUse(mach, "a listener in this process", code: null);
            }

            var kr = MachPorts.CheckIn(mach.ServiceName, out servicePort);
            if (kr == MachAbi.KERN_SUCCESS)
            {
                break;
            }

            ThrowUnlessStale(kr, mach, deadline, ref unexplainedDenials);
            if (!waitLogged)
            {
                MachLog.WaitingForStaleName(_logger, mach.ServiceName, _options.StaleNameTimeout);
                waitLogged = true;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            s_listening[mach.ServiceName] = 0;

            // The service port's queue is the backlog of connect requests; the default of 5 is easily overrun.
            _ = MachPorts.SetQueueLimit(servicePort, _options.Backlog);
            var listener = new MachListener(this, mach, servicePort, _options.Backlog, _logger);
            listener.Start();
            MachLog.Listening(_logger, mach.ToString());
            return listener;
        }
        catch
        {
            s_listening.TryRemove(mach.ServiceName, out _);
            MachPorts.DestroyReceiveRight(servicePort);
            throw;
        }
    }

    /// <inheritdoc />
    /// <exception cref="PlatformNotSupportedException">Not running on macOS.</exception>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var mach = AsOwnEndPoint(endpoint);
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException(NotSupportedMessage);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return await ConnectOnPoolThread(mach, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The handshake blocks in <c>mach_msg</c>; it runs on a pool thread so the caller's thread is free meanwhile.</summary>
    [SupportedOSPlatform("macos")]
    private Task<ConnectionContext> ConnectOnPoolThread(MachEndPoint mach, CancellationToken cancellationToken) =>
        Task.Run(() => (ConnectionContext)MachHandshake.Connect(this, mach, _options, _logger, cancellationToken), cancellationToken);

    /// <summary>Sets up the listener's side of a connection; null when the client went away meanwhile.</summary>
    [SupportedOSPlatform("macos")]
    internal MachConnection? Accept(uint clientPort, AuditToken client, MachEndPoint endPoint) =>
        MachHandshake.Accept(clientPort, client, endPoint, _options, _logger);

    internal void ListenerStopped(MachEndPoint endPoint) => s_listening.TryRemove(endPoint.ServiceName, out _);

    /// <summary>
    /// Decides what a failed check-in means: throws when the name is taken by a live process, denied by the
    /// sandbox, or still stale at the deadline; returns (to wait and try again) while launchd has not yet
    /// noticed that the previous holder exited.
    /// </summary>
    [SupportedOSPlatform("macos")]
    private void ThrowUnlessStale(int kr, MachEndPoint mach, long deadline, ref int unexplainedDenials)
    {
        if (kr is not (MachAbi.BOOTSTRAP_NOT_PRIVILEGED or MachAbi.BOOTSTRAP_NAME_IN_USE or MachAbi.BOOTSTRAP_SERVICE_ACTIVE))
        {
            throw MachErrors.ForCheckIn(kr, mach, Container.GroupId);
        }

        // launchd answers BOOTSTRAP_NOT_PRIVILEGED both for a sandbox denial and for a name another process
        // owns (launchd-842 job_mig_check_in2), so a look-up tells which.
        switch (MachPorts.ProbeHolder(mach.ServiceName))
        {
            case MachNameHolder.Live:
                throw MachErrors.InUse(mach, "another running process", kr);
            case MachNameHolder.Exited:
                break;
            case MachNameHolder.None when kr != MachAbi.BOOTSTRAP_NOT_PRIVILEGED:
                break;
            case MachNameHolder.None:
                // Refused, yet nobody holds the name: either the sandbox, or a holder that launchd released between
                // the two calls. Only the second refusal in a row is taken as the sandbox's.
                if (++unexplainedDenials >= 2)
                {
                    throw MachErrors.ForCheckIn(kr, mach, Container.GroupId);
                }

                return;
            default:
                throw MachErrors.ForCheckIn(kr, mach, Container.GroupId);
        }

        if (Stopwatch.GetTimestamp() >= deadline)
        {
            throw MachErrors.InUse(mach, $"a process that has exited, and launchd did not release it within {_options.StaleNameTimeout} (MachTransportOptions.StaleNameTimeout)", kr);
        }
    }

    private MachEndPoint AsOwnEndPoint(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var mach = endpoint as MachEndPoint
            ?? throw new ArgumentException($"The Mach transport takes a {nameof(MachEndPoint)} made by {nameof(MachTransport)}.{nameof(CreateEndPoint)}, not a {endpoint.GetType().Name} ('{endpoint}').", nameof(endpoint));

        // An endpoint made for another app group would be denied by the sandbox; say so before asking launchd.
        SandboxNameRules.CheckMachServiceName(Container.GroupId, mach.ServiceName);
        return mach;
    }
}
