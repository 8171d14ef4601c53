using MessagePack;
using Orleans;
using Orleans.Concurrency;

namespace SandboxedApp.Contracts;

/// <summary>What the app asks of a device when it opens it.</summary>
[MessagePackObject]
public sealed class OpenOptions
{
    /// <summary>Who is opening the device.</summary>
    [Key(0)]
    public string Client { get; set; } = "";
}

/// <summary>A device's state, as the helper that owns the hardware keeps it.</summary>
[MessagePackObject]
public sealed class DeviceInfo
{
    /// <summary>The device's name, e.g. <c>usb:1234</c>.</summary>
    [Key(0)]
    public string Name { get; set; } = "";

    /// <summary>How many times it was opened, ever (kept on disk in the group container).</summary>
    [Key(1)]
    public int Opens { get; set; }

    /// <summary>How many times it blinked.</summary>
    [Key(2)]
    public int Blinks { get; set; }

    /// <summary>Heartbeats from the helper's own timer since the device was activated.</summary>
    [Key(3)]
    public int Heartbeats { get; set; }

    /// <summary>The helper process that owns the device.</summary>
    [Key(4)]
    public int HelperPid { get; set; }
}

/// <summary>A piece of shared hardware, owned by the DeviceHub helper (seed 001), addressed by name.</summary>
public interface IDeviceActor : IGrainWithStringKey
{
    /// <summary>Opens the device and returns its state.</summary>
    Task<DeviceInfo> Open(OpenOptions options, CancellationToken cancellationToken = default);

    /// <summary>Blinks the device's LED; fire-and-forget.</summary>
    [OneWay]
    Task Blink(int times);

    /// <summary>Runs a calibration that takes <paramref name="milliseconds"/>; returns the state afterwards.</summary>
    Task<DeviceInfo> Calibrate(int milliseconds, CancellationToken cancellationToken = default);

    /// <summary>The device's state.</summary>
    [ReadOnly]
    Task<DeviceInfo> Describe();
}
