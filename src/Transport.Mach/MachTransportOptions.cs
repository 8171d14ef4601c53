using Sandgrain.Transport.Mach.Interop;

namespace Sandgrain.Transport.Mach;

/// <summary>Options of the Mach-port transport.</summary>
public sealed class MachTransportOptions
{
    /// <summary>
    /// Bytes received but not yet read by the application before the transport stops receiving (back-pressure
    /// to the peer, whose messages then wait in the kernel queue). Default 1 MiB.
    /// </summary>
    public int MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Bytes written by the application but not yet sent before its flushes wait (back-pressure to the
    /// writer). Default 1 MiB.
    /// </summary>
    public int MaxWriteBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Messages the kernel queues on each connection's receive port before the peer's sends wait (the port's
    /// <c>mpl_qlimit</c>). With messages of at most 256 KiB this bounds what a reader that stopped lets a writer
    /// park in the kernel: 64 × 256 KiB = 16 MiB by default. 1 to 1024 (<c>MACH_PORT_QLIMIT_MAX</c>).
    /// </summary>
    public int QueueLimit { get; set; } = 64;

    /// <summary>
    /// Connections a listener sets up before the application accepts them, and connection requests the kernel
    /// queues on the listener's service port. 1 to 1024. Default 64.
    /// </summary>
    public int Backlog { get; set; } = 64;

    /// <summary>How long a connect waits for the listener to answer its handshake. Default 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a bind waits for launchd to release a name still registered to a process that has exited (launchd
    /// learns of the death asynchronously). A name held by a live process is refused at once. Default 2 seconds.
    /// </summary>
    public TimeSpan StaleNameTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a disposal (<c>DisposeAsync</c>, the graceful close) waits for the peer to take more of what is still
    /// queued — the application's last writes — before it discards the rest and closes. The wait goes on while the peer
    /// keeps reading, however slowly; <c>Abort</c> never waits. Default 2 seconds; 1 ms to 5 minutes.
    /// </summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);


    internal void Validate()
    {
        if (CloseTimeout < TimeSpan.FromMilliseconds(1) || CloseTimeout > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentOutOfRangeException(nameof(CloseTimeout), CloseTimeout, $"MachTransportOptions.CloseTimeout is {CloseTimeout}; it must be 1 ms to 5 minutes.");
        }

        if (MaxReadBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReadBufferSize), MaxReadBufferSize, $"MachTransportOptions.MaxReadBufferSize is {MaxReadBufferSize}; it must be at least 4096 bytes.");
        }

        if (MaxWriteBufferSize < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWriteBufferSize), MaxWriteBufferSize, $"MachTransportOptions.MaxWriteBufferSize is {MaxWriteBufferSize}; it must be at least 4096 bytes.");
        }

        if (QueueLimit is < 1 or > MachAbi.MACH_PORT_QLIMIT_MAX)
        {
            throw new ArgumentOutOfRangeException(nameof(QueueLimit), QueueLimit, $"MachTransportOptions.QueueLimit is {QueueLimit}; it must be 1 to {MachAbi.MACH_PORT_QLIMIT_MAX} messages (MACH_PORT_QLIMIT_MAX).");
        }

        if (Backlog is < 1 or > MachAbi.MACH_PORT_QLIMIT_MAX)
        {
            throw new ArgumentOutOfRangeException(nameof(Backlog), Backlog, $"MachTransportOptions.Backlog is {Backlog}; it must be 1 to {MachAbi.MACH_PORT_QLIMIT_MAX}.");
        }

        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, $"MachTransportOptions.ConnectTimeout is {ConnectTimeout}; it must be positive and at most {TimeSpan.FromMilliseconds(int.MaxValue)}.");
        }

        if (StaleNameTimeout < TimeSpan.Zero || StaleNameTimeout.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(StaleNameTimeout), StaleNameTimeout, $"MachTransportOptions.StaleNameTimeout is {StaleNameTimeout}; it must be zero or positive and at most {TimeSpan.FromMilliseconds(int.MaxValue)}.");
        }
    }
}
