using System.Diagnostics.Tracing;
using System.Globalization;

namespace Sandgrain.Bench;

/// <summary>
/// Which types a process allocates, sampled by the runtime's allocation ticks (one event per ~100 KB allocated,
/// naming the type that crossed the mark): a profile of where the ALLOC figure goes, printed with
/// <c>actors --alloc-types 1</c>. Off unless asked for; a listener changes what it measures only by its own events.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const long GcKeyword = 0x1;
    private static AllocationSampler? s_current;
    private readonly Dictionary<string, long> _bytes = [];

    /// <summary>Starts sampling this process's allocations (again from zero).</summary>
    internal static void Start()
    {
        s_current?.Dispose();
        s_current = new AllocationSampler();
    }

    /// <summary>Stops sampling; the types that took the most sampled bytes, as "share% type" lines, largest first.</summary>
    internal static string[] Stop(int top)
    {
        var sampler = s_current;
        s_current = null;
        if (sampler is null)
        {
            return [];
        }

        sampler.Dispose();
        lock (sampler._bytes)
        {
            var total = (double)Math.Max(1, sampler._bytes.Values.Sum());
            return sampler._bytes.OrderByDescending(p => p.Value).Take(top)
                .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Value / total * 100,5:0.0}% {p.Key}")).ToArray();
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null || e.PayloadNames is null)
        {
            return;
        }

        var type = e.PayloadNames.IndexOf("TypeName") is >= 0 and var t ? e.Payload[t] as string ?? "?" : "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is >= 0 and var a ? Convert.ToInt64(e.Payload[a], CultureInfo.InvariantCulture) : 100_000;
        lock (_bytes)
        {
            _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
        }
    }
}
