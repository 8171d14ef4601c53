namespace Sandgrain.Transport.Conformance;

/// <summary>Waits the transport tests share.</summary>
public static class ConnectionWaits
{
    /// <summary>Completes once <paramref name="closed"/> fires (a connection's <c>ConnectionClosed</c>); fails after <paramref name="within"/>.</summary>
    public static async Task ClosedAsync(CancellationToken closed, TimeSpan within, CancellationToken cancellationToken)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = closed.Register(() => fired.TrySetResult());
        await fired.Task.WaitAsync(within, cancellationToken);
    }
}
