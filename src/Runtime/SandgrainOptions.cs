using Sandgrain.Runtime.Discovery;

namespace Sandgrain;

/// <summary>
/// The <c>Sandgrain</c> configuration section: the app group, the transports in order of preference, the
/// helper catalog and the call and activation limits.
/// </summary>
public sealed class SandgrainOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Sandgrain";

    /// <summary>The app group id, exactly as in <c>com.apple.security.application-groups</c>. Required.</summary>
    public string? GroupId { get; set; }

    /// <summary>The group container folder; default: the platform's (see <see cref="Sandgrain.Transport.GroupContainer"/>).</summary>
    public string? ContainerPath { get; set; }

    /// <summary>
    /// Transport schemes in order of preference (<c>shm</c>, <c>unix</c>, <c>mach</c>). The silo listens on each;
    /// a caller uses the first one the callee also offers. Each needs its transport registered
    /// (e.g. <c>services.AddSandgrainUnixSocketTransport()</c>). Empty (the default) means every registered
    /// transport that can run on this machine, in the order of each transport's own preference (<c>shm</c>,
    /// <c>mach</c>, <c>unix</c>) — what a helper wants, so that it offers whatever its callers prefer. A listed
    /// transport that is not registered, or cannot run here (Mach off macOS), fails the silo's start with the reason.
    /// </summary>
    /// <remarks>Empty by default because the configuration binder appends configured items to an array's initial items.</remarks>
    public string[] Transports { get; set; } = [];

    /// <summary>The helper catalog: helper name → how to launch it and which actor types it hosts.</summary>
    public Dictionary<string, HelperOptions> Helpers { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long a call may take before it fails with <see cref="ActorCallTimeoutException"/>. Default 30 s.</summary>
    public TimeSpan DefaultCallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an activation may go without calls before it is collected. Default 15 minutes.</summary>
    public TimeSpan ActivationIdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The largest frame accepted from a peer, in bytes; a larger length prefix closes the connection before any
    /// of it is buffered. Default 64 MiB.
    /// </summary>
    public int MaxFrameSize { get; set; } = 64 * 1024 * 1024;

    /// <summary>How long a new connection may take to exchange hellos and proofs before it is closed. Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Authenticated connections each listener holds at once; a connection accepted while it is full is refused
    /// with its reason and closed at once, before its handshake. Connections still in their handshake do not count
    /// here (see <see cref="MaxPendingHandshakes"/>), so silent peers cannot lock out group members. Default 256.
    /// </summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>
    /// Connections each listener lets be in their handshake at once. When one more arrives, the one that has waited
    /// longest is dropped (a group member completes its handshake in about a millisecond; a silent or slow peer is
    /// what waits). Default 32.
    /// </summary>
    public int MaxPendingHandshakes { get; set; } = 32;

    /// <summary>
    /// Requests one connection may have running in this silo at once; one more fails at once with
    /// <see cref="SandgrainLimitExceededException"/> (a one-way one is dropped and logged). Default 1024.
    /// </summary>
    public int MaxInFlightRequestsPerConnection { get; set; } = 1024;

    /// <summary>
    /// Activations this silo holds at once; a call that would create one more fails with
    /// <see cref="SandgrainLimitExceededException"/>. Default 100,000.
    /// </summary>
    public int MaxActivations { get; set; } = 100_000;

    /// <summary>
    /// How long a connection may go without the peer reading anything this process sends (a flush that makes no
    /// progress) before it is closed, its calls failing with <see cref="ActorUnavailableException"/> and the reason
    /// logged. A peer that is stopped, hung or hostile costs at most this long. Default 10 s.
    /// </summary>
    public TimeSpan SendStallTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long code run on the thread that reads a connection may hold it before another thread takes over reading.
    /// A response continues its caller, and a request for an idle activation runs its turn, on the thread that read
    /// it (no thread hop per call); an actor method or a continuation that blocks holds that thread, and after this
    /// long the connection is read by another one, so blocking code costs a stall of about this long, never a
    /// deadlock. Checked every half of it (at most every 10 ms, which is also how late a call's deadline can be noticed). Default 20 ms; from 1 ms to 10 s.
    /// </summary>
    public TimeSpan ReceiveStallThreshold { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Bytes of requests that may wait, per connection, behind a write to a slow peer; a call that would queue more
    /// fails at once with <see cref="SandgrainLimitExceededException"/>, and while answers to a peer are over it, no
    /// more of its requests are read. Default 64 MiB.
    /// </summary>
    public long MaxQueuedBytesPerConnection { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// How long stopping the silo may take: saying goodbye, deactivating every activation, closing connections.
    /// What is not done by then is logged and abandoned, and a helper's instance lock is released anyway, so a hung
    /// helper can always be launched again. Default 10 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the options; returns what is wrong in words that say what to change, or null.</summary>
    internal string? Validate()
    {
        if (!Sandgrain.Transport.GroupId.TryParse(GroupId, out _, out var groupError))
        {
            return $"Sandgrain:GroupId: {groupError}";
        }

        foreach (var (name, value) in new[]
        {
            ("DefaultCallTimeout", DefaultCallTimeout),
            ("ActivationIdleTimeout", ActivationIdleTimeout),
            ("HandshakeTimeout", HandshakeTimeout),
            ("SendStallTimeout", SendStallTimeout),
            ("ShutdownTimeout", ShutdownTimeout),
        })
        {
            if (value <= TimeSpan.Zero || value > ActorCall.MaxTimeout)
            {
                return $"Sandgrain:{name} is {value}; it must be positive and at most {ActorCall.MaxTimeout.TotalDays:0} days (ActorCall.MaxTimeout).";
            }
        }

        if (ReceiveStallThreshold < TimeSpan.FromMilliseconds(1) || ReceiveStallThreshold > TimeSpan.FromSeconds(10))
        {
            return $"Sandgrain:ReceiveStallThreshold is {ReceiveStallThreshold}; it must be from 1 ms to 10 s.";
        }

        if (MaxQueuedBytesPerConnection is < 64 * 1024 or > 16L * 1024 * 1024 * 1024)
        {
            return $"Sandgrain:MaxQueuedBytesPerConnection is {MaxQueuedBytesPerConnection}; it must be from 64 KiB to 16 GiB.";
        }

        if (MaxFrameSize is < 1024 or > 1024 * 1024 * 1024)
        {
            return $"Sandgrain:MaxFrameSize is {MaxFrameSize}; it must be from 1 KiB to 1 GiB.";
        }

        if (MaxConnections < 1)
        {
            return $"Sandgrain:MaxConnections is {MaxConnections}; it must be at least 1.";
        }

        if (MaxPendingHandshakes < 1)
        {
            return $"Sandgrain:MaxPendingHandshakes is {MaxPendingHandshakes}; it must be at least 1.";
        }

        if (MaxInFlightRequestsPerConnection < 1)
        {
            return $"Sandgrain:MaxInFlightRequestsPerConnection is {MaxInFlightRequestsPerConnection}; it must be at least 1.";
        }

        if (MaxActivations < 1)
        {
            return $"Sandgrain:MaxActivations is {MaxActivations}; it must be at least 1.";
        }

        return null;
    }
}
