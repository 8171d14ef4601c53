using Microsoft.Extensions.Logging;
using Sandgrain;
using Sandgrain.Transport;
using SandboxedApp.Contracts;

namespace SandboxedApp.DeviceHub;

/// <summary>
/// One device. Its open count is kept in a file in the group container, so a device that comes back after
/// the helper crashed still knows it; blinks and heartbeats live in memory only.
/// </summary>
public sealed class DeviceActor(IActorContext context, GroupContainer container, ILogger<DeviceActor> log) : IDeviceActor, IActorLifecycle
{
    private readonly DeviceInfo _state = new() { Name = context.Key, HelperPid = Environment.ProcessId };
    private IDisposable? _heartbeat;

    private string StatePath => Path.Combine(container.GetSandgrainFolder("devices"), Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(context.Key)) + ".json");

    public Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(StatePath))
        {
            if (int.TryParse(File.ReadAllText(StatePath), System.Globalization.CultureInfo.InvariantCulture, out var opens))
            {
                _state.Opens = opens;
            }
            else
            {
                log.LogWarning("Device {Device}: the saved state in {Path} is unreadable; starting from 0", context.Key, StatePath);
            }
        }

        // The helper's own work: a timer, run as a turn of this actor.
        _heartbeat = context.RegisterTimer(_ =>
        {
            _state.Heartbeats++;
            return Task.CompletedTask;
        }, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
        log.LogInformation("Device {Device} activated with {Opens} opens on record", context.Key, _state.Opens);
        return Task.CompletedTask;
    }

    public Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        _heartbeat?.Dispose();
        return Task.CompletedTask;
    }

    public Task<DeviceInfo> Open(OpenOptions options, CancellationToken cancellationToken = default)
    {
        _state.Opens++;

        // Written aside and renamed over the old file, so a kill -9 mid-write leaves the old count, not half a file.
        var temporary = StatePath + ".tmp";
        File.WriteAllText(temporary, _state.Opens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(temporary, StatePath, overwrite: true);
        return Task.FromResult(Copy());
    }

    public Task Blink(int times)
    {
        _state.Blinks += times;
        return Task.CompletedTask;
    }

    public async Task<DeviceInfo> Calibrate(int milliseconds, CancellationToken cancellationToken = default)
    {
        await Task.Delay(milliseconds, cancellationToken);
        return Copy();
    }

    public Task<DeviceInfo> Describe() => Task.FromResult(Copy());

    private DeviceInfo Copy() => new()
    {
        Name = _state.Name,
        Opens = _state.Opens,
        Blinks = _state.Blinks,
        Heartbeats = _state.Heartbeats,
        HelperPid = _state.HelperPid,
    };
}
