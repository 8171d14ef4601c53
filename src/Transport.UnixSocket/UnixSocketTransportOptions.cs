namespace Sandgrain.Transport.UnixSocket;

/// <summary>Options of the Unix-domain-socket transport.</summary>
public sealed class UnixSocketTransportOptions
{
    /// <summary>
    /// Bytes received but not yet read by the application before the transport stops reading from the
    /// socket (back-pressure to the peer). Default 1 MiB.
    /// </summary>
    public int MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes written by the application but not yet sent before its flushes wait (back-pressure to the
    /// writer). Default 1 MiB.
    /// </summary>
    public int MaxWriteBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long a disposal (<c>DisposeAsync</c>, the graceful close) waits for the peer to take more of what is still
    /// queued — the application's last writes — before it discards the rest and closes. The wait goes on while the peer
    /// keeps reading, however slowly; <c>Abort</c> never waits. Default 2 seconds; 1 ms to 5 minutes.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a receive thread with nothing to read polls the socket before it blocks in <c>recv()</c>. A reply that
    /// arrives within it costs no wake-up of a sleeping thread (the larger part of a small call's round trip); one
    /// thread per process polls at a time, whatever the transport (the others block at once), and it yields its CPU
    /// every few polls. A process allowed a single CPU never polls (its peer could only answer once it stopped). Polling
    /// costs a CPU core while it lasts; <see cref="TimeSpan.Zero"/> blocks at once, for battery-sensitive apps.
    /// Default 50 µs; zero to one second.
    /// </summary>
    public TimeSpan SpinDuration { get; set; } = TimeSpan.FromMicroseconds(50);

    /// <summary>Pending connections the kernel queues for a listener before refusing more. Default 512.</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// The platform whose socket-path limits are checked besides the running platform's, which always apply.
    /// Null (the default) means macOS: a socket path that no method reaches on a Mac (over 252 bytes) is refused on
    /// Linux too, so a configuration that would fail on a user's Mac fails in tests on Linux. Set
    /// <see cref="SandboxPlatform.Linux"/> to check Linux's limits only (the opt-out, for Linux-only deployments
    /// with long container paths). Sockets are always bound the running platform's way.
    /// </summary>
    public SandboxPlatform? Platform { get; set; }

    /// <summary>
    /// A macOS code requirement that the process at the other end of every accepted and every connected socket
    /// must satisfy, after the uid check; null (the default) checks no code signature. A peer that does not
    /// satisfy it is refused: <see cref="UnixSocketTransport.ConnectAsync"/> throws
    /// <see cref="UnauthorizedAccessException"/>, and a listener logs the refusal and keeps accepting.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Written in Apple's code requirement language (<c>man csreq</c>). To admit only your team's code, whether
    /// signed for the Mac App Store or with Developer ID:
    /// <c>anchor apple generic and certificate leaf[subject.OU] = "TEAMID"</c>; add
    /// <c>identifier "com.example.helper" and …</c> to admit a single program.
    /// </para>
    /// <para>
    /// The peer is identified by its audit token (<c>LOCAL_PEERTOKEN</c>), which the Security framework checks
    /// against the running code's signature (<c>SecCodeCopyGuestWithAttributes</c>, <c>SecCodeCheckValidity</c>).
    /// Only macOS has both: on any other system a non-null value is refused when the transport is created.
    /// The requirement is compiled once, when the transport is created, and a requirement that does not compile
    /// is refused then with the Security framework's status; later changes to this property are not seen.
    /// Pinning the Team ID (<c>subject.OU</c>) rather than one certificate keeps working for code signed either
    /// way (sandbox-facts §4.4, "Security of peers" item 12).
    /// </para>
    /// <para>
    /// In the Generic Host the requirement covers the host's other transports too: the shared-memory transport checks
    /// it on every connection's companion socket, and the Mach transport, which cannot check it yet, declares itself
    /// unsupported (so that no peer bypasses the requirement by dialling another of the silo's addresses).
    /// </para>
    /// </remarks>
    /// <example>
    /// <code>
    /// services.AddSandgrainUnixSocketTransport(options =&gt;
    ///     options.PeerCodeRequirement = "anchor apple generic and certificate leaf[subject.OU] = \"TEAMID\"");
    /// </code>
    /// </example>
    public string? PeerCodeRequirement { get; set; }

    /// <summary>
    /// How many descriptors a peer may pass (SCM_RIGHTS, Linux) and leave untaken on one connection; 0, the default,
    /// receives with plain reads, and the kernel discards any descriptor sent. The shared-memory transport's
    /// companion sockets take one: the segment. More closes the connection.
    /// </summary>
    internal int AcceptedDescriptors { get; init; }

    internal void Validate()
    {
        if (CloseTimeout < TimeSpan.FromMilliseconds(1) || CloseTimeout > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentOutOfRangeException(nameof(CloseTimeout), CloseTimeout, $"UnixSocketTransportOptions.CloseTimeout is {CloseTimeout}; it must be 1 ms to 5 minutes.");
        }

        if (MaxReadBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReadBufferSize), MaxReadBufferSize, $"UnixSocketTransportOptions.MaxReadBufferSize is {MaxReadBufferSize}; it must be at least 4096 bytes.");
        }

        if (MaxWriteBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWriteBufferSize), MaxWriteBufferSize, $"UnixSocketTransportOptions.MaxWriteBufferSize is {MaxWriteBufferSize}; it must be at least 4096 bytes.");
        }

        if (SpinDuration < TimeSpan.Zero || SpinDuration > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(SpinDuration), SpinDuration, $"UnixSocketTransportOptions.SpinDuration is {SpinDuration}; it must be from zero to one second.");
        }

        if (Backlog < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Backlog), Backlog, $"UnixSocketTransportOptions.Backlog is {Backlog}; it must be at least 1.");
        }
    }
}
