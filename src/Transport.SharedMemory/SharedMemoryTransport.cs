using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sandgrain.Transport.UnixSocket;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// The shared-memory transport: per connection, two single-producer/single-consumer byte rings in a segment
/// file mapped by both processes, addressed as <c>shm:&lt;name&gt;</c>. Built for the lowest latency and the
/// highest bulk bandwidth between processes on one machine.
/// </summary>
/// <remarks>
/// A connection is set up over a companion Unix socket, <c>.sandgrain/shm/&lt;name&gt;</c> (with the Unix
/// transport's uid check), which stays open as the liveness signal. On Linux the client creates the segment in
/// anonymous memory sealed against resizing and passes it over the companion socket by descriptor, so nothing is on
/// disk and neither side can truncate what the other has mapped (SECURITY.md). macOS has no sealing: there the client
/// creates a segment file in <c>.sandgrain/shm/</c>, both sides map it, and the listener removes it as soon as it has
/// mapped it. Files in the group container are the sandbox-safe way to share memory there (sandbox-facts §3, §9.3):
/// POSIX shared-memory names would be limited to 31 bytes including the app group id.
/// </remarks>
public sealed class SharedMemoryTransport : ISandgrainTransport
{
    /// <summary>The address scheme of this transport: <c>shm</c>.</summary>
    public const string AddressScheme = "shm";

    /// <summary>The folder under <c>.sandgrain</c> that holds companion sockets and segment files.</summary>
    public const string Folder = "shm";

    /// <summary>This transport's <see cref="ISandgrainTransport.Preference"/>: the first choice.</summary>
    internal const int DefaultPreference = 100;

    private readonly UnixSocketTransport _companion;
    private readonly SharedMemoryTransportOptions _options;
    private readonly ILogger _logger;
    private readonly WakeMechanism _mechanisms;

    /// <summary>Creates the transport for a group container.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    /// <exception cref="SandboxNameException">The companion socket paths cannot be reached on this platform, or on macOS (unless <see cref="SharedMemoryTransportOptions.Platform"/> says otherwise).</exception>
    /// <remarks>
    /// A code requirement for peers (<see cref="UnixSocket.UnixSocketTransportOptions.PeerCodeRequirement"/>) reaches
    /// this transport through the Generic Host (<c>AddSandgrainSharedMemoryTransport</c>), which checks it on every
    /// connection's companion socket: one setting for every transport of the host, so that none is left open.
    /// </remarks>
    public SharedMemoryTransport(GroupContainer container, SharedMemoryTransportOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(container, options, loggerFactory, peerCodeRequirement: null)
    {
    }

    /// <param name="container">The group container.</param>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">Where the transport logs.</param>
    /// <param name="peerCodeRequirement">The host's code requirement for peers (the Unix-socket transport's option), checked on the companion sockets; null checks none.</param>
    /// <exception cref="PlatformNotSupportedException"><paramref name="peerCodeRequirement"/> is set and this is not macOS.</exception>
    internal SharedMemoryTransport(GroupContainer container, SharedMemoryTransportOptions? options, ILoggerFactory? loggerFactory, string? peerCodeRequirement)
    {
        ArgumentNullException.ThrowIfNull(container);
        Container = container;
        _options = options ?? new SharedMemoryTransportOptions();
        _options.Validate();
        _logger = (ILogger?)loggerFactory?.CreateLogger("Sandgrain.Transport.SharedMemory") ?? NullLogger.Instance;
        // A companion socket takes one descriptor from its peer: the sealed segment (Linux). It carries the code
        // requirement: both ends check the peer on it, before the segment is passed or mapped.
        _companion = new UnixSocketTransport(container, new UnixSocketTransportOptions
        {
            MaxReadBufferSize = 4096,
            MaxWriteBufferSize = 4096,
            Platform = _options.Platform,
            AcceptedDescriptors = 1,
            SpinDuration = TimeSpan.Zero,
            PeerCodeRequirement = peerCodeRequirement,
        }, loggerFactory);
        _mechanisms = Parking.Available(_options.ForceDoorbell);

        // Refuse at configuration time a container whose companion socket paths cannot be reached.
        _ = CreateEndPoint(TransportAddress.Create(AddressScheme, "00000000"));
    }

    /// <summary>The group container the segments and companion sockets live in.</summary>
    public GroupContainer Container { get; }

    /// <inheritdoc />
    public string Scheme => AddressScheme;

    /// <inheritdoc />
    public int Preference => DefaultPreference;

    /// <inheritdoc />
    /// <remarks>Always null: mapped files and the companion socket exist on every platform Sandgrain runs on.</remarks>
    public string? UnsupportedReason => null;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The address has another scheme, contains '/', starts with '.' or ends with '.seg'.</exception>
    /// <exception cref="SandboxNameException">The companion socket path cannot be reached by any method on this platform or on the one checked besides.</exception>
    public EndPoint CreateEndPoint(TransportAddress address)
    {
        AddressRules.RequireScheme(address, AddressScheme, "shared-memory", "shm:7f3a");
        AddressRules.RequireName(address);
        if (address.Value.EndsWith(".seg", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{address}' ends with '.seg', which is reserved for segment files.", nameof(address));
        }

        if (address.Value.StartsWith('.'))
        {
            throw new ArgumentException($"'{address}' starts with '.', which is reserved for the transport's own files.", nameof(address));
        }

        var companion = (UnixSocketEndPoint)_companion.CreateEndPoint(CompanionAddress(address));
        return new SharedMemoryEndPoint(address, companion);
    }

    /// <inheritdoc />
    public TransportAddress CreateUniqueAddress() =>
        TransportAddress.Create(AddressScheme, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)));

    /// <inheritdoc />
    /// <remarks>
    /// Removes the companion socket <c>.sandgrain/shm/&lt;name&gt;</c> when nothing listens on it, and every segment
    /// file in <c>.sandgrain/shm/</c> that no process maps (one is left when a process dies mid-handshake).
    /// </remarks>
    /// <exception cref="ArgumentException">The address has another scheme or breaks this transport's rules.</exception>
    public void RemoveStaleEndpoint(TransportAddress address)
    {
        _ = CreateEndPoint(address);
        _ = _companion.RemoveStaleSocket(CompanionAddress(address), Folder);
        _ = RemoveStaleSegments();
    }

    /// <summary>True for this transport's own end points only (<see cref="SharedMemoryEndPoint"/>): Kestrel asks before it binds, so it can share one server with other transports.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is SharedMemoryEndPoint;

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var shm = AsOwnEndPoint(endpoint);
        RemoveStaleSegments();
        var companion = await _companion.BindAsync(shm.Companion, cancellationToken).ConfigureAwait(false);
        return new SharedMemoryListener(this, shm, companion, _logger);
    }

    /// <inheritdoc />
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var shm = AsOwnEndPoint(endpoint);
        ConnectionContext companion;
        try
        {
            companion = await _companion.ConnectAsync(shm.Companion, cancellationToken).ConfigureAwait(false);
        }
        catch (EndpointNotFoundException e)
        {
            throw new EndpointNotFoundException(shm.ToString(), e.Message.Replace(shm.Companion.ToString(), shm.ToString(), StringComparison.Ordinal), e);
        }

        string? path = null;
        Segment? segment = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.HandshakeTimeout);
            if (_options.NamedSegments)
            {
                var name = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".seg";
                path = Path.Combine(Container.GetSandgrainFolder(Folder), name);
                segment = Segment.Create(path, _options.RingCapacity);
                companion.Transport.Output.Write(Handshake.EncodeHello(new Handshake.Hello(_mechanisms, _options.RingCapacity, name)));
                await companion.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            else
            {
                // Nothing is written to the companion's output before this: the hello goes straight on the socket, with the descriptor.
                segment = Segment.CreateSealed(_options.RingCapacity);
                ((UnixSocketConnection)companion).SendWithDescriptor(Handshake.EncodeHello(new Handshake.Hello(_mechanisms, _options.RingCapacity, "")), segment.Handle);
            }

            var reply = await Handshake.ReadReplyAsync(companion.Transport.Input, timeout.Token).ConfigureAwait(false);
            if (!reply.Accepted)
            {
                throw new IOException($"The listener at {shm} refused the connection: {reply.Message}");
            }

            // A listener (or whoever wrote the registry record that named it) must not pick how this process waits:
            // a mechanism this process did not offer may not work here at all (os_sync on Linux is no function).
            if (!Parking.IsOffered(reply.Mechanism, _mechanisms))
            {
                throw new IOException($"The listener at {shm} chose wake mechanism {reply.Mechanism}, which this process did not offer ({_mechanisms}); the connection is refused.");
            }

            var connection = new SharedMemoryConnection(companion, segment, isClient: true, reply.Mechanism, shm.ToString(), _options, _logger);
            connection.Start();
            return connection;
        }
        catch (Exception e)
        {
            segment?.Dispose();
            TryDelete(path);
            await companion.DisposeAsync().ConfigureAwait(false);
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"The listener at {shm} did not complete the shared-memory handshake within {_options.HandshakeTimeout.TotalSeconds:0.#} s (SharedMemoryTransportOptions.HandshakeTimeout).", e);
            }

            throw;
        }
        finally
        {
            // The listener removes a named file once it has mapped it; on success this finds nothing.
            TryDelete(path);
        }
    }

    /// <summary>The listener's side of the handshake: map the client's segment, remove its file, answer.</summary>
    internal async Task<SharedMemoryConnection> AcceptHandshakeAsync(ConnectionContext companion, SharedMemoryEndPoint endPoint, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.HandshakeTimeout);
        var hello = await Handshake.ReadHelloAsync(companion.Transport.Input, timeout.Token).ConfigureAwait(false);
        string? path = null;
        Segment segment;
        try
        {
            if (hello.Capacity > _options.MaxAcceptedRingCapacity)
            {
                throw new InvalidDataException($"The connecting peer asked for rings of {hello.Capacity} bytes; this listener maps at most {_options.MaxAcceptedRingCapacity} (SharedMemoryTransportOptions.MaxAcceptedRingCapacity).");
            }

            if (hello.Sealed)
            {
                var handle = (companion as UnixSocketConnection)?.TakeDescriptor()
                    ?? throw new InvalidDataException("The connecting peer announced a segment passed by descriptor and passed none.");
                segment = Segment.OpenSealed(handle, hello.Capacity);
            }
            else if (_options.NamedSegments)
            {
                path = Path.Combine(Container.GetSandgrainFolder(Folder), hello.SegmentName);
                segment = Segment.Open(path, hello.Capacity);
            }
            else
            {
                throw new InvalidDataException($"The connecting peer named a segment file ('{hello.SegmentName}'); this listener maps only sealed memory passed by descriptor, which no process can truncate under its mapping.");
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            Handshake.WriteReply(companion.Transport.Output, new Handshake.Reply(false, 0, e.Message));
            await companion.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            throw;
        }

        try
        {
            TryDelete(path);
            var mechanism = Parking.Choose(_mechanisms, hello.Mechanisms);
            Handshake.WriteReply(companion.Transport.Output, new Handshake.Reply(true, mechanism, ""));
            await companion.Transport.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
            var connection = new SharedMemoryConnection(companion, segment, isClient: false, mechanism, endPoint.ToString(), _options, _logger);
            connection.Start();
            return connection;
        }
        catch
        {
            segment.Dispose();
            throw;
        }
    }

    /// <summary>How long a new connection may take to complete its handshake.</summary>
    internal TimeSpan HandshakeTimeout => _options.HandshakeTimeout;

    /// <summary>Removes segment files whose holders are all gone (a process killed mid-handshake leaves one).</summary>
    internal int RemoveStaleSegments()
    {
        var folder = Container.GetSandgrainFolder(Folder);
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(folder, "*.seg"))
        {
            if (Handshake.IsSegmentName(Path.GetFileName(file)) && !FileLock.IsHeld(file))
            {
                TryDelete(file);
                removed++;
            }
        }

        if (removed > 0)
        {
            SharedMemoryLog.StaleSegmentsRemoved(_logger, removed, folder);
        }

        return removed;
    }

    private static TransportAddress CompanionAddress(TransportAddress address) =>
        TransportAddress.Create(UnixSocketTransport.AddressScheme, Folder + "/" + address.Value);

    private static void TryDelete(string? path)
    {
        if (path is null)
        {
            return;
        }

        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Already gone or the folder was removed.
        }
    }

    private static SharedMemoryEndPoint AsOwnEndPoint(EndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint as SharedMemoryEndPoint
            ?? throw new ArgumentException($"The shared-memory transport takes a {nameof(SharedMemoryEndPoint)} made by {nameof(SharedMemoryTransport)}.{nameof(CreateEndPoint)}, not a {endpoint.GetType().Name} ('{endpoint}').", nameof(endpoint));
    }
}
