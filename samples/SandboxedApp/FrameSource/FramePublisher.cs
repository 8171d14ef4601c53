using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sandgrain;
using Sandgrain.Transport;
using SandboxedApp.Contracts;

namespace SandboxedApp.FrameSource;

/// <summary>The frame geometry and rate, from the <c>FrameSource</c> configuration section.</summary>
public sealed class FrameSourceOptions
{
    /// <summary>Frame width in pixels.</summary>
    public int Width { get; set; } = 1280;

    /// <summary>Frame height in pixels.</summary>
    public int Height { get; set; } = 720;

    /// <summary>Frames per second to aim for.</summary>
    public int FramesPerSecond { get; set; } = 60;

    /// <summary>Frames the shared buffer holds.</summary>
    public int Slots { get; set; } = 6;
}

/// <summary>
/// One frame source. Its timer (a turn of this actor) draws the next frame into the shared buffer and tells each
/// subscriber which slot it is in, one-way; a subscriber whose process is gone is dropped at its first failed call.
/// </summary>
public sealed class FramePublisher(IActorContext context, GroupContainer container, IOptions<FrameSourceOptions> options, ILogger<FramePublisher> log)
    : IFramePublisher, IActorLifecycle
{
    private readonly FrameSourceOptions _options = options.Value;
    private readonly List<IFrameObserver> _subscribers = [];
    private SharedFrameBuffer? _buffer;
    private string _bufferName = "";
    private IDisposable? _timer;
    private long _produced;

    public Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _bufferName = $"{Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(context.Key))}-{Environment.ProcessId}.frames";
        _buffer = SharedFrameBuffer.Create(Path.Combine(container.GetSandgrainFolder("frames"), _bufferName), _options.Width, _options.Height, _options.Slots);
        var period = TimeSpan.FromSeconds(1.0 / Math.Clamp(_options.FramesPerSecond, 1, 1000));
        _timer = context.RegisterTimer(_ => Produce(), period, period);
        return Task.CompletedTask;
    }

    public Task OnDeactivateAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _buffer?.Dispose();
        File.Delete(Path.Combine(container.GetSandgrainFolder("frames"), _bufferName));
        return Task.CompletedTask;
    }

    public Task<FrameStream> Subscribe(IFrameObserver observer)
    {
        _subscribers.Add(observer);
        return Task.FromResult(new FrameStream
        {
            BufferName = _bufferName,
            Width = _options.Width,
            Height = _options.Height,
            Slots = _options.Slots,
            FramesPerSecond = _options.FramesPerSecond,
            PublisherPid = Environment.ProcessId,
        });
    }

    public Task Unsubscribe(IFrameObserver observer)
    {
        _subscribers.RemoveAll(s => s.ToString() == observer.ToString());
        return Task.CompletedTask;
    }

    public Task<long> FramesProduced() => Task.FromResult(_produced);

    private async Task Produce()
    {
        if (_subscribers.Count == 0 || _buffer is null)
        {
            return;
        }

        var frame = _produced++;
        var slot = _buffer.Write(frame);
        foreach (var subscriber in _subscribers.ToList())
        {
            try
            {
                await subscriber.OnFrame(frame, slot);
            }
            catch (ActorUnavailableException e)
            {
                _subscribers.Remove(subscriber);
                log.LogInformation("Dropped subscriber {Subscriber}: {Reason}", subscriber, e.Message);
            }
        }
    }
}
