namespace Sandgrain.Transport.SharedMemory;

/// <summary>Options of the shared-memory transport.</summary>
public sealed class SharedMemoryTransportOptions
{
    /// <summary>
    /// Bytes in each of a connection's two rings: a power of two from 4 KiB to 1 GiB. Larger messages stream
    /// through in pieces. Each connection maps two rings plus 4 KiB of header. Default 1 MiB.
    /// </summary>
    public int RingCapacity { get; set; } = 1 << 20;

    /// <summary>
    /// The largest ring a connecting client may ask this process's listener to map, per direction: a power of two
    /// from 4 KiB to 1 GiB, at least <see cref="RingCapacity"/>. A client that asks for more is refused with this
    /// limit named; without it, any peer could make the listener map two of the largest rings per connection.
    /// Default 16 MiB.
    /// </summary>
    public int MaxAcceptedRingCapacity { get; set; } = 16 << 20;

    /// <summary>
    /// How long a reader with nothing to read (or a writer facing a full ring) spins before it parks. One thread
    /// per process spins at a time (the others park at once), and it yields its CPU at every step while the peer's
    /// receive thread was last seen on the same CPU. Spinning costs a CPU core while it lasts and buys the lowest
    /// latency; <see cref="TimeSpan.Zero"/> parks at once, for battery-sensitive apps. Default 50 µs.
    /// </summary>
    public TimeSpan SpinDuration { get; set; } = TimeSpan.FromMicroseconds(50);

    /// <summary>Bytes taken out of the ring but not yet read by the application before the transport stops taking more. Default 1 MiB.</summary>
    public int MaxReadBufferSize { get; set; } = 1 << 20;

    /// <summary>Bytes written by the application but not yet in the ring before its flushes wait. Default 1 MiB.</summary>
    public int MaxWriteBufferSize { get; set; } = 1 << 20;

    /// <summary>
    /// How long a disposal (<c>DisposeAsync</c>, the graceful close) waits for the peer to take more of what is still
    /// queued — the application's last writes — before it discards the rest and closes. The wait goes on while the peer
    /// keeps reading, however slowly; <c>Abort</c> never waits. Default 2 seconds; 1 ms to 5 minutes.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);


    /// <summary>How long a new connection may take to complete its handshake before it is closed. Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The platform whose socket-path limits are checked for the companion socket besides the running platform's,
    /// as <see cref="UnixSocket.UnixSocketTransportOptions.Platform"/>: null (the default) means macOS; set
    /// <see cref="SandboxPlatform.Linux"/> to check Linux's limits only.
    /// </summary>
    public SandboxPlatform? Platform { get; set; }

    /// <summary>Uses the companion-socket doorbell even where a shared-address wait exists (to test the fallback).</summary>
    internal bool ForceDoorbell { get; set; }

    /// <summary>
    /// Segments are files in the group container, named in the handshake, instead of sealed memory passed by
    /// descriptor: what macOS uses, having no sealing (and the only way a listener there accepts). True by default
    /// on macOS only; a test sets it on Linux to run the macOS path.
    /// </summary>
    internal bool NamedSegments { get; set; } = !OperatingSystem.IsLinux();

    internal void Validate()
    {
        if (CloseTimeout < TimeSpan.FromMilliseconds(1) || CloseTimeout > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentOutOfRangeException(nameof(CloseTimeout), CloseTimeout, $"SharedMemoryTransportOptions.CloseTimeout is {CloseTimeout}; it must be 1 ms to 5 minutes.");
        }

        if (!SegmentLayout.IsValidCapacity(RingCapacity))
        {
            throw new ArgumentOutOfRangeException(nameof(RingCapacity), RingCapacity, $"SharedMemoryTransportOptions.RingCapacity is {RingCapacity}; it must be a power of two from {SegmentLayout.MinCapacity} to {SegmentLayout.MaxCapacity} bytes.");
        }

        if (!SegmentLayout.IsValidCapacity(MaxAcceptedRingCapacity) || MaxAcceptedRingCapacity < RingCapacity)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAcceptedRingCapacity), MaxAcceptedRingCapacity, $"SharedMemoryTransportOptions.MaxAcceptedRingCapacity is {MaxAcceptedRingCapacity}; it must be a power of two from {SegmentLayout.MinCapacity} to {SegmentLayout.MaxCapacity} bytes and at least RingCapacity ({RingCapacity}).");
        }

        if (SpinDuration < TimeSpan.Zero || SpinDuration > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(SpinDuration), SpinDuration, $"SharedMemoryTransportOptions.SpinDuration is {SpinDuration}; it must be from zero to one second.");
        }

        if (MaxReadBufferSize < 4096 || MaxWriteBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReadBufferSize), $"SharedMemoryTransportOptions.MaxReadBufferSize ({MaxReadBufferSize}) and MaxWriteBufferSize ({MaxWriteBufferSize}) must be at least 4096 bytes.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "SharedMemoryTransportOptions.HandshakeTimeout must be positive.");
        }
    }
}
