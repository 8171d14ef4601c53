using System.Diagnostics;
using Sandgrain.Transport;

namespace SandboxedApp.Contracts;

/// <summary>
/// A subscriber's end: the observer object a process registers with
/// <c>IActorFactory.CreateObjectReference&lt;IFrameObserver&gt;</c>. Checks every frame it is told about in the
/// shared buffer and counts what it found.
/// </summary>
public sealed class FrameReceiver : IFrameObserver, IDisposable
{
    private readonly Lock _lock = new();
    private readonly GroupContainer _container;
    private readonly Stopwatch _clock = new();
    private SharedFrameBuffer? _buffer;
    private long _verified;
    private long _overwritten;
    private long _corrupt;
    private long _last = -1;
    private long _gaps;
    private TimeSpan _firstAt;
    private TimeSpan _lastAt;

    /// <summary>Creates a receiver that resolves buffer names in <paramref name="container"/>.</summary>
    public FrameReceiver(GroupContainer container) => _container = container;

    /// <summary>Frames whose every pixel was right.</summary>
    public long Verified => Interlocked.Read(ref _verified);

    /// <summary>Frames the publisher overwrote before they were checked (this subscriber fell behind).</summary>
    public long Overwritten => Interlocked.Read(ref _overwritten);

    /// <summary>Frames with a wrong pixel.</summary>
    public long Corrupt => Interlocked.Read(ref _corrupt);

    /// <summary>Frame numbers never announced (a message lost would show here).</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    /// <summary>Frames received per second, first to last.</summary>
    public double FramesPerSecond
    {
        get
        {
            lock (_lock)
            {
                var span = (_lastAt - _firstAt).TotalSeconds;
                var count = _verified + _overwritten + _corrupt;
                return count > 1 && span > 0 ? (count - 1) / span : 0;
            }
        }
    }

    /// <summary>Maps the publisher's buffer; call with what <c>Subscribe</c> returned.</summary>
    public void Attach(FrameStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.BufferName.Contains('/', StringComparison.Ordinal) || stream.BufferName.StartsWith('.'))
        {
            throw new InvalidDataException($"'{stream.BufferName}' is not a buffer name.");
        }

        lock (_lock)
        {
            _buffer?.Dispose();
            _buffer = SharedFrameBuffer.Open(Path.Combine(_container.GetSandgrainFolder("frames"), stream.BufferName), stream);
            _clock.Restart();
        }
    }

    /// <inheritdoc />
    public Task OnFrame(long frameNumber, int slot)
    {
        lock (_lock)
        {
            if (_buffer is null)
            {
                return Task.CompletedTask;
            }

            var result = _buffer.Check(frameNumber, slot);
            switch (result)
            {
                case FrameCheck.Verified:
                    _verified++;
                    break;
                case FrameCheck.Overwritten:
                    _overwritten++;
                    break;
                default:
                    _corrupt++;
                    break;
            }

            if (_last >= 0 && frameNumber > _last + 1)
            {
                _gaps += frameNumber - _last - 1;
            }

            _last = Math.Max(_last, frameNumber);
            _lastAt = _clock.Elapsed;
            if (_verified + _overwritten + _corrupt == 1)
            {
                _firstAt = _lastAt;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _buffer?.Dispose();
            _buffer = null;
        }
    }
}
