using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// The Unix-domain-socket transport: stream sockets under <c>&lt;container&gt;/.sandgrain/</c>, addressed as
/// <c>unix:&lt;path relative to .sandgrain&gt;</c> (for example <c>unix:s/7f3a09c1</c>).
/// </summary>
/// <remarks>
/// Sockets are 0600 in a 0700 folder, and both ends check the other's uid (<c>SO_PEERCRED</c> /
/// <c>LOCAL_PEERCRED</c>): a peer of another user is refused and logged. A socket file left by a killed
/// process is detected (connection refused) and replaced; a live listener is never replaced.
/// Unix sockets in the group container are allowed by the App Sandbox like any other file there
/// (sandbox-facts §4.2). On macOS, <see cref="UnixSocketTransportOptions.PeerCodeRequirement"/> adds a
/// code-signature check of the peer after the uid check (sandbox-facts §4.4; "Security of peers", item 12).
/// </remarks>
public sealed class UnixSocketTransport : ISandgrainTransport
{
    /// <summary>The address scheme of this transport: <c>unix</c>.</summary>
    public const string AddressScheme = "unix";

    /// <summary>The folder under <c>.sandgrain</c> that generated addresses use.</summary>
    public const string SocketFolder = "s";

    /// <summary>This transport's <see cref="ISandgrainTransport.Preference"/>: after shared memory and Mach.</summary>
    internal const int DefaultPreference = 300;

    private const string BindLockName = ".bind.lock";

    /// <summary>One thread for the whole process watches accepted connections that have not said anything yet.</summary>
    private static readonly Lazy<ReadinessWatcher> s_silentAccepted = new(() => new ReadinessWatcher());

    private readonly UnixSocketTransportOptions _options;
    private readonly SandboxPlatform _alsoChecked;
    private readonly ILogger _logger;
    private readonly uint _ownUid = UserAccount.EffectiveUserId;
    private readonly CodeSigningRequirement? _peerRequirement;

    /// <summary>Creates the transport for a group container.</summary>
    /// <exception cref="SandboxNameException">
    /// Socket paths in this container cannot be reached by any method on this platform, or on macOS (unless
    /// <see cref="UnixSocketTransportOptions.Platform"/> says otherwise).
    /// </exception>
    /// <exception cref="PlatformNotSupportedException"><see cref="UnixSocketTransportOptions.PeerCodeRequirement"/> is set and this is not macOS.</exception>
    /// <exception cref="ArgumentException"><see cref="UnixSocketTransportOptions.PeerCodeRequirement"/> is not a valid code requirement.</exception>
    public UnixSocketTransport(GroupContainer container, UnixSocketTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        _options = options ?? new UnixSocketTransportOptions();
        _options.Validate();
        _alsoChecked = _options.Platform ?? SandboxPlatform.MacOS;
        _logger = (ILogger?)loggerFactory?.CreateLogger("Sandgrain.Transport.UnixSocket") ?? NullLogger.Instance;

        // Compiled once, here, so that a requirement this system cannot check or that does not compile is a
        // configuration error rather than a refusal of every peer.
        _peerRequirement = CodeSigningRequirement.Create(_options.PeerCodeRequirement);

        // Refuse at configuration time a container whose generated socket paths no method can reach.
        _ = CreateEndPoint(TransportAddress.Create(AddressScheme, SocketFolder + "/00000000"));
    }

    /// <summary>The group container the sockets live in.</summary>
    public GroupContainer Container { get; }

    /// <inheritdoc />
    public string Scheme => AddressScheme;

    /// <inheritdoc />
    public int Preference => DefaultPreference;

    /// <inheritdoc />
    /// <remarks>Always null: Unix domain sockets exist on every platform Sandgrain runs on.</remarks>
    public string? UnsupportedReason => null;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The address has another scheme, is absolute or has an empty, '.' or '..' segment.</exception>
    /// <exception cref="SandboxNameException">The socket path cannot be reached by any method on this platform or on the one checked besides (<see cref="UnixSocketTransportOptions.Platform"/>).</exception>
    public EndPoint CreateEndPoint(TransportAddress address)
    {
        AddressRules.RequireScheme(address, AddressScheme, "Unix-socket", "unix:s/7f3a");
        AddressRules.RequireRelativePath(address, $"the group container's '{GroupContainer.SandgrainFolderName}' folder");
        var fullPath = Path.Combine(Container.SandgrainPath, address.Value);

        // The plan is the running platform's; the path must also be reachable on the platform checked besides
        // (macOS unless configured otherwise), so that a path that would fail on a Mac fails here too.
        var plan = SocketPathPlan.Create(fullPath, SandboxPlatforms.Current);
        if (_alsoChecked != SandboxPlatforms.Current)
        {
            _ = SocketPathPlan.Create(fullPath, _alsoChecked);
        }

        return new UnixSocketEndPoint(address, plan);
    }

    /// <inheritdoc />
    public TransportAddress CreateUniqueAddress() =>
        TransportAddress.Create(AddressScheme, SocketFolder + "/" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));

    /// <inheritdoc />
    /// <remarks>
    /// Only sockets directly in <c>.sandgrain/s/</c>, where generated addresses live, are removed, and only when a
    /// connect is refused (nobody listens); a socket being bound at that moment is left alone.
    /// </remarks>
    /// <exception cref="ArgumentException">
    /// The address has another scheme, breaks this transport's rules, or names a file outside <c>.sandgrain/s/</c>.
    /// </exception>
    public void RemoveStaleEndpoint(TransportAddress address) => RemoveStaleSocket(address, SocketFolder);

    /// <summary>
    /// Removes the socket file of <paramref name="address"/> when nothing listens on it; the address must name a
    /// file directly in <c>.sandgrain/&lt;folder&gt;/</c>. True when a file was removed.
    /// </summary>
    /// <exception cref="ArgumentException">The address breaks the rules or names a file outside that folder.</exception>
    internal bool RemoveStaleSocket(TransportAddress address, string folder)
    {
        var unix = (UnixSocketEndPoint)CreateEndPoint(address);
        var segments = address.Value.Split('/');
        if (segments.Length != 2 || segments[0] != folder || segments[1].StartsWith('.'))
        {
            throw new ArgumentException($"'{address}' is not a socket in '{GroupContainer.SandgrainFolderName}/{folder}/', the only folder whose stale endpoints this transport removes.", nameof(address));
        }

        var directory = Path.GetDirectoryName(unix.Path)!;
        if (!Directory.Exists(directory) || IsLink(Container.SandgrainPath) || IsLink(directory))
        {
            // Nothing was ever bound there, or the folder was replaced by a link that could lead anywhere.
            return false;
        }

        var file = new FileInfo(unix.Path);
        if (!file.Exists || file.LinkTarget is not null)
        {
            return false;
        }

        // Under the bind lock, so that a socket bound but not yet listening is not taken for a stale one; a binder
        // holding it now removes a stale file itself.
        using var bindLock = FileLock.TryAcquire(Path.Combine(directory, BindLockName));
        if (bindLock is null)
        {
            return false;
        }

        return TryRemoveStale(unix);
    }

    /// <summary>True for this transport's own end points only (<see cref="UnixSocketEndPoint"/>): Kestrel asks before it binds, so it can share one server with other transports.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is UnixSocketEndPoint;

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var unix = AsOwnEndPoint(endpoint);
        var folder = Path.GetDirectoryName(unix.Path)!;
        EnsureFolder(folder);

        using (await TakeBindLockAsync(unix, cancellationToken).ConfigureAwait(false))
        {
            RemoveIfStale(unix);
            Socket socket;
            try
            {
                socket = unix.Plan.Bind();
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new EndpointInUseException(unix.ToString(), $"{unix} ({unix.Path}) is already bound by another socket.");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
            {
                throw SandboxDenied(unix, e);
            }

            try
            {
                PrivateFile.MakePrivate(unix.Path);
                socket.Listen(_options.Backlog);
            }
            catch
            {
                File.Delete(unix.Path);
                socket.Dispose();
                throw;
            }

            UnixSocketLog.Listening(_logger, unix.ToString(), unix.Path, unix.Plan.Kind);
            return new UnixSocketListener(this, unix, socket, _logger);
        }
    }

    /// <inheritdoc />
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var unix = AsOwnEndPoint(endpoint);
        var socket = await ConnectSocketAsync(unix, cancellationToken).ConfigureAwait(false);
        try
        {
            var peer = PeerCredentials.Read(socket);
            if (peer.UserId != _ownUid)
            {
                UnixSocketLog.PeerUserRefused(_logger, unix.ToString(), peer.UserId, peer.ProcessId, _ownUid);
                throw new UnauthorizedAccessException($"The listener at {unix} runs as uid {peer.UserId}, not as this process's uid {_ownUid}; Sandgrain connects only to processes of the same user.");
            }

            CheckPeerCode(socket, peer, unix.ToString());
            var connection = new UnixSocketConnection(socket, peer, unix.ToString(), null, unix, _options, _logger);
            connection.Start();
            return connection;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Wraps an accepted socket, or refuses it (returns null) when its peer is another user or does not satisfy
    /// <see cref="UnixSocketTransportOptions.PeerCodeRequirement"/>.
    /// </summary>
    internal UnixSocketConnection? Accept(Socket accepted, UnixSocketEndPoint endPoint)
    {
        PeerIdentity peer;
        try
        {
            peer = PeerCredentials.Read(accepted);
        }
        catch (SocketException)
        {
            accepted.Dispose();
            return null;
        }

        if (peer.UserId != _ownUid)
        {
            UnixSocketLog.PeerUserRefused(_logger, endPoint.ToString(), peer.UserId, peer.ProcessId, _ownUid);
            accepted.Dispose();
            return null;
        }

        try
        {
            CheckPeerCode(accepted, peer, endPoint.ToString());
        }
        catch (Exception e) when (e is UnauthorizedAccessException or SocketException)
        {
            // Refused (and logged), or the peer left before its audit token could be read: either way the
            // listener keeps accepting, as it does for a peer of another user.
            accepted.Dispose();
            return null;
        }

        // Its receive thread starts once the peer has said something: silent connections cost no thread.
        var connection = new UnixSocketConnection(accepted, peer, endPoint.ToString(), endPoint, null, _options, _logger);
        connection.StartWhenReadable(token => s_silentAccepted.Value.WaitReadableAsync(accepted, token));
        return connection;
    }

    /// <summary>
    /// Serializes the check-for-stale, remove, bind sequence (and unbind's removal) among all processes
    /// binding in one folder, so that two binders of the same stale name cannot remove each other's socket.
    /// </summary>
    internal Task<FileLock> TakeBindLockAsync(UnixSocketEndPoint endPoint, CancellationToken cancellationToken) =>
        FileLock.AcquireAsync(Path.Combine(Path.GetDirectoryName(endPoint.Path)!, BindLockName), cancellationToken);

    /// <summary>Checks the peer's code signature when a requirement is configured; logs and throws a refusal.</summary>
    /// <exception cref="UnauthorizedAccessException">The peer does not satisfy the requirement.</exception>
    /// <exception cref="SocketException">The peer's audit token could not be read.</exception>
    private void CheckPeerCode(Socket socket, PeerIdentity peer, string address)
    {
        if (_peerRequirement is null)
        {
            return;
        }

        try
        {
            _peerRequirement.Check(socket, peer, address);
        }
        catch (UnauthorizedAccessException e)
        {
            UnixSocketLog.PeerCodeRefused(_logger, address, peer.ProcessId, _peerRequirement.Text, e);
            throw;
        }
    }

    private async ValueTask<Socket> ConnectSocketAsync(UnixSocketEndPoint unix, CancellationToken cancellationToken)
    {
        try
        {
            return await unix.Plan.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e) when (!File.Exists(unix.Path))
        {
            throw new EndpointNotFoundException(unix.ToString(), $"Nothing listens at {unix}: there is no socket file at '{unix.Path}'.", e);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            throw new EndpointNotFoundException(unix.ToString(), $"Nothing listens at {unix}: the socket file '{unix.Path}' was left by a process that is no longer running (connection refused).", e);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
        {
            throw SandboxDenied(unix, e);
        }
    }

    private static bool IsLink(string path) => new DirectoryInfo(path).LinkTarget is not null;

    /// <summary>Removes the socket file when a connect is refused; throws when a live process listens on it.</summary>
    /// <exception cref="EndpointInUseException">A live process listens on the socket.</exception>
    private void RemoveIfStale(UnixSocketEndPoint unix)
    {
        using var live = ProbeStale(unix, out _);
        if (live is not null)
        {
            int? pid = null;
            try
            {
                pid = PeerCredentials.Read(live).ProcessId;
            }
            catch (SocketException)
            {
                // The listener went away between connect and the query; it was live a moment ago all the same.
            }

            var who = pid is null ? "a live process" : $"a live process (pid {pid})";
            throw new EndpointInUseException(unix.ToString(), $"{unix} ({unix.Path}) is in use by {who}; a listening socket is never replaced. Stop that process or use another address.");
        }
    }

    /// <summary>Removes the socket file when a connect is refused; true when it removed one. A live listener is left alone.</summary>
    private bool TryRemoveStale(UnixSocketEndPoint unix)
    {
        using var live = ProbeStale(unix, out var removed);
        return removed;
    }

    /// <summary>
    /// Connects to the socket file, if there is one: removes it when the connect is refused (nobody listens), and
    /// returns the connected probe when somebody does (the caller disposes it).
    /// </summary>
    private Socket? ProbeStale(UnixSocketEndPoint unix, out bool removed)
    {
        removed = false;
        if (!File.Exists(unix.Path))
        {
            return null;
        }

        try
        {
            return unix.Plan.Connect();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            try
            {
                File.Delete(unix.Path);
            }
            catch (IOException)
            {
                // Removed meanwhile, with its folder.
                return null;
            }

            removed = true;
            UnixSocketLog.StaleSocketReplaced(_logger, unix.Path);
            return null;
        }
        catch (SocketException) when (!File.Exists(unix.Path))
        {
            return null;
        }
    }

    private void EnsureFolder(string folder)
    {
        if (folder.StartsWith(Container.SandgrainPath, StringComparison.Ordinal))
        {
            // Every folder from .sandgrain down is private to the user.
            var relative = Path.GetRelativePath(Container.SandgrainPath, folder);
            var current = Container.SandgrainPath;
            GroupContainer.CreatePrivateFolder(current);
            if (relative != ".")
            {
                foreach (var part in relative.Split('/'))
                {
                    current = Path.Combine(current, part);
                    GroupContainer.CreatePrivateFolder(current);
                }
            }
        }
    }

    private static UnixSocketEndPoint AsOwnEndPoint(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint as UnixSocketEndPoint
            ?? throw new ArgumentException($"The Unix-socket transport takes a {nameof(UnixSocketEndPoint)} made by {nameof(UnixSocketTransport)}.{nameof(CreateEndPoint)}, not a {endpoint.GetType().Name} ('{endpoint}').", nameof(endpoint));
    }

    private Exception SandboxDenied(UnixSocketEndPoint unix, SocketException e) =>
        new UnauthorizedAccessException($"Access to the socket path '{unix.Path}' was denied; sockets must be inside the app group container '{Container.Path}' shared by both processes (the App Sandbox allows Unix sockets there only).", e);
}
