namespace Sandgrain.Runtime.Activations;

/// <summary>
/// The request an activation is running, flowing with its awaits: outgoing calls read it to extend the call
/// chain, which the callee checks for cycles.
/// </summary>
internal sealed record CallContext(string? ActivationId, string[] Chain, bool Blocking)
{
    private static readonly AsyncLocal<CallContext?> s_current = new();

    internal static CallContext? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>The chain an outgoing call carries: the callers waiting on it, this activation last if it waits.</summary>
    internal static string[] OutgoingChain()
    {
        var current = s_current.Value;
        if (current is null)
        {
            return [];
        }

        return current.Blocking && current.ActivationId is { } id ? [.. current.Chain, id] : current.Chain;
    }
}
