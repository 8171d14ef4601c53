using Orleans;

namespace Sandgrain.Bench;

/// <summary>The echo actor of the benchmark contract.</summary>
public interface IEchoActor : IGrainWithStringKey
{
    /// <summary>Returns the payload it was given.</summary>
    Task<byte[]> Echo(byte[] payload);

    /// <summary>Returns the payload's length.</summary>
    Task<int> Sink(byte[] payload);
}

/// <summary>The echo actor.</summary>
public sealed class EchoActor : IEchoActor
{
    /// <inheritdoc />
    public Task<byte[]> Echo(byte[] payload) => Task.FromResult(payload);

    /// <inheritdoc />
    public Task<int> Sink(byte[] payload) => Task.FromResult(payload.Length);
}
