using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sandgrain;

/// <summary>
/// Sandgrain's metrics and traces: a <see cref="Meter"/> and an <see cref="ActivitySource"/>, both named
/// <c>Sandgrain</c>. Free when nobody listens. A call's trace context crosses processes in its request, so the
/// host's span is a child of the caller's.
/// </summary>
public static class SandgrainTelemetry
{
    /// <summary>The name of the meter and the activity source.</summary>
    public const string Name = "Sandgrain";

    internal static readonly ActivitySource Source = new(Name);

    private static readonly Meter s_meter = new(Name);

    /// <summary><c>sandgrain.calls</c>: calls made (direction=outgoing) and served (direction=incoming), by actor type and outcome.</summary>
    private static readonly Counter<long> s_calls = s_meter.CreateCounter<long>("sandgrain.calls", "{call}", "Actor calls made and served.");

    /// <summary><c>sandgrain.call.duration</c>: how long calls took, in milliseconds, seen by the caller.</summary>
    private static readonly Histogram<double> s_duration = s_meter.CreateHistogram<double>("sandgrain.call.duration", "ms", "Duration of actor calls, seen by the caller.");

    /// <summary><c>sandgrain.activations</c>: live activations in this silo.</summary>
    private static readonly UpDownCounter<long> s_activations = s_meter.CreateUpDownCounter<long>("sandgrain.activations", "{activation}", "Live activations in this silo.");

    /// <summary>True when anything listens to calls (traces or the call metrics): then calls take the measured path.</summary>
    internal static bool IsObserved => Source.HasListeners() || s_calls.Enabled || s_duration.Enabled;

    internal static void CallCompleted(string actorType, string outcome, string direction, long startTimestamp)
    {
        if (s_calls.Enabled)
        {
            s_calls.Add(1, new KeyValuePair<string, object?>("actor.type", actorType), new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("direction", direction));
        }

        if (s_duration.Enabled && direction == "outgoing")
        {
            s_duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, new KeyValuePair<string, object?>("actor.type", actorType));
        }
    }

    internal static void ActivationChanged(long delta) => s_activations.Add(delta);

    internal static string Outcome(Exception? e) => e switch
    {
        null => "ok",
        ActorCallTimeoutException => "timeout",
        ActorUnavailableException => "unavailable",
        OperationCanceledException => "cancelled",
        _ => "error",
    };
}
