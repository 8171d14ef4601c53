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

/// <summary>What the benchmark asks the server process about itself (not part of the contract's workloads).</summary>
public interface IBenchProbe : IGrainWithStringKey
{
    /// <summary>[bytes this process has allocated, voluntary context switches of its live threads].</summary>
    Task<long[]> Sample();

    /// <summary>Starts sampling which types this process allocates (see <see cref="AllocationSampler"/>).</summary>
    Task StartAllocationSampling();

    /// <summary>Stops the sampling; the top types by sampled bytes.</summary>
    Task<string[]> StopAllocationSampling();
}

/// <summary>Answers <see cref="IBenchProbe"/>.</summary>
public sealed class BenchProbe : IBenchProbe
{
    /// <inheritdoc />
    public Task<long[]> Sample() => Task.FromResult(ProcessCounters.Sample());

    /// <inheritdoc />
    public Task StartAllocationSampling()
    {
        AllocationSampler.Start();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<string[]> StopAllocationSampling() => Task.FromResult(AllocationSampler.Stop(15));
}

/// <summary>This process's allocation and context-switch counters.</summary>
internal static class ProcessCounters
{
    /// <summary>[bytes allocated by every thread so far, voluntary context switches summed over the live threads].</summary>
    internal static long[] Sample() => [GC.GetTotalAllocatedBytes(precise: true), VoluntarySwitches()];

    /// <summary>From /proc (Linux); -1 elsewhere. Threads that have exited are not counted.</summary>
    private static long VoluntarySwitches()
    {
        if (!Directory.Exists("/proc/self/task"))
        {
            return -1;
        }

        long total = 0;
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        total += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // The thread exited meanwhile.
            }
        }

        return total;
    }
}
