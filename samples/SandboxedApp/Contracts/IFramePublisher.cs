using MessagePack;
using Orleans;
using Orleans.Concurrency;

namespace SandboxedApp.Contracts;

/// <summary>Where a publisher's frames are: a shared frame buffer in the group container, and its geometry.</summary>
[MessagePackObject]
public sealed class FrameStream
{
    /// <summary>The buffer's file name in the container's <c>frames</c> folder (not a path: each process resolves it in its own container).</summary>
    [Key(0)]
    public string BufferName { get; set; } = "";

    /// <summary>Frame width in pixels.</summary>
    [Key(1)]
    public int Width { get; set; }

    /// <summary>Frame height in pixels.</summary>
    [Key(2)]
    public int Height { get; set; }

    /// <summary>How many frames the buffer holds before the oldest is overwritten.</summary>
    [Key(3)]
    public int Slots { get; set; }

    /// <summary>The rate the publisher aims for.</summary>
    [Key(4)]
    public int FramesPerSecond { get; set; }

    /// <summary>The publisher's process.</summary>
    [Key(5)]
    public int PublisherPid { get; set; }
}

/// <summary>
/// A subscriber's callback: "frame <c>frameNumber</c> is in slot <c>slot</c>". Only these two numbers travel as a
/// message; the pixels stay in shared memory (the Syphon case, seed 000).
/// </summary>
public interface IFrameObserver : IGrainObserver
{
    /// <summary>A new frame is ready.</summary>
    [OneWay]
    Task OnFrame(long frameNumber, int slot);
}

/// <summary>A source of BGRA frames, hosted by the FrameSource helper, addressed by name (e.g. <c>camera</c>).</summary>
public interface IFramePublisher : IGrainWithStringKey
{
    /// <summary>Starts delivering frames to <paramref name="observer"/>; returns where they are.</summary>
    Task<FrameStream> Subscribe(IFrameObserver observer);

    /// <summary>Stops delivering frames to <paramref name="observer"/>.</summary>
    Task Unsubscribe(IFrameObserver observer);

    /// <summary>Frames produced so far.</summary>
    [ReadOnly]
    Task<long> FramesProduced();
}
