using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Activations;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Calls;

/// <summary>
/// Makes every call of this process: to an activation here, to an observer object (here or in the process that
/// made it), or over a connection to the silo that hosts the type. The call's deadline starts here and covers
/// placing, launching, connecting, sending and waiting.
/// </summary>
internal sealed class CallRouter(SandgrainOptions options, SiloIdentity identity, ActivationDirectory directory, ObserverTable observers, Placement placement, TimeProvider time, ILogger logger) : ICallInvoker
{
    public ValueTask<PooledBuffer?> CallAsync(ActorReference target, uint methodId, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var method = target.Info.Method(methodId);
        if (method is null)
        {
            arguments.Dispose();
            throw Serializer.UnknownMethod(target.Info.Name, methodId);
        }

        // The common case — a remote actor whose silo is connected, and nobody listening for telemetry — goes
        // straight to the connection: no async layer of its own, the connection's pending call is what the proxy awaits.
        if (!SandgrainTelemetry.IsObserved && target.Info.KeyKind != ActorKeyKind.Observer && !directory.Hosts(target.Info.Name) && placement.Cached(target.Info) is { } connection)
        {
            try
            {
                return connection.CallAsync(target, method, arguments, flags, CallContext.OutgoingChain(), ActorCall.TimeoutOverride ?? options.DefaultCallTimeout, cancellationToken);
            }
            finally
            {
                // Copied into the connection (or failed): the caller's buffer is free again, and nothing else holds it.
                arguments.Recycle();
            }
        }

        return new ValueTask<PooledBuffer?>(ObservedCallAsync(target, method, arguments, flags, cancellationToken));
    }

    private async Task<PooledBuffer?> ObservedCallAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = SandgrainTelemetry.Source.StartActivity(target.Info.ShortName + "/" + method.Name, ActivityKind.Client);
        activity?.SetTag("sandgrain.actor", target.ActorId);
        Exception? failure = null;
        try
        {
            return await RouteAsync(target, method, arguments, flags, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            failure = e;
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            SandgrainTelemetry.CallCompleted(target.Info.Name, SandgrainTelemetry.Outcome(failure), "outgoing", started);
        }
    }

    /// <summary>Routes one call; owns <paramref name="arguments"/>.</summary>
    private async Task<PooledBuffer?> RouteAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, CancellationToken cancellationToken)
    {
        var chain = CallContext.OutgoingChain();
        var timeout = ActorCall.TimeoutOverride ?? options.DefaultCallTimeout;
        if (target.Info.KeyKind == ActorKeyKind.Observer)
        {
            return await CallObserverAsync(target, method, arguments, flags, chain, timeout, cancellationToken).ConfigureAwait(false);
        }

        if (directory.Hosts(target.Info.Name))
        {
            return await RunHereAsync(target, method, arguments, chain, timeout, cancellationToken, (args, token) => directory.InvokeAsync(target.Info, target.Key, method, args, chain, token).AsTask()).ConfigureAwait(false);
        }

        try
        {
            var started = time.GetTimestamp();
            var connection = placement.Cached(target.Info) ?? await WithinDeadlineAsync(target, method, chain, timeout, cancellationToken, token => placement.RouteAsync(target.Info, token)).ConfigureAwait(false);
            return await connection.CallAsync(target, method, arguments, flags, chain, Remaining(timeout, started), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Sent (copied into the connection) or failed: either way the caller's buffer is free again.
            arguments.Dispose();
        }
    }

    /// <summary>
    /// A call to an observer: run here when this process made it; otherwise sent over the connection to the silo
    /// that made it (the one it called from, normally), or a new connection to that silo if it is still alive.
    /// </summary>
    private async Task<PooledBuffer?> CallObserverAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, CallFlags flags, string[] chain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!ObserverKey.TryParse(target.Key, out var silo, out _))
        {
            arguments.Dispose();
            throw new ActorCallException($"'{target.Key}' is not an observer reference.");
        }

        if (silo == identity.SiloId)
        {
            return await RunHereAsync(target, method, arguments, chain, timeout, cancellationToken, (args, token) => observers.InvokeAsync(target.Info, target.Key, method, args, chain, token)).ConfigureAwait(false);
        }

        try
        {
            var started = time.GetTimestamp();
            var connection = await WithinDeadlineAsync(target, method, chain, timeout, cancellationToken, token => placement.ConnectToAsync(silo, token)).ConfigureAwait(false)
                ?? throw new ActorUnavailableException($"{target.Info.Name}.{method.Name}: the process that created observer '{target.Key}' (silo {silo}) is gone: this silo has no connection to it and the registry has no live record of it.");
            return await connection.CallAsync(target, method, arguments, flags, chain, Remaining(timeout, started), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            arguments.Dispose();
        }
    }

    /// <summary>
    /// Runs a call in this process. The invocation owns the arguments until it is done, even when the caller stops
    /// waiting (deadline, cancellation): the caller's buffer is never handed back while the actor may still read it.
    /// </summary>
    private async Task<PooledBuffer?> RunHereAsync(ActorReference target, ActorMethodInfo method, PooledBuffer arguments, string[] chain, TimeSpan timeout, CancellationToken cancellationToken, Func<PooledBuffer, CancellationToken, Task<PooledBuffer>> invoke)
    {
        if ((method.Flags & CallFlags.OneWay) != 0)
        {
            _ = RunOneWayAsync(target, invoke(arguments, CancellationToken.None));
            return null;
        }

        using var deadline = new CancellationTokenSource(timeout, time);
        using var link = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), deadline);
        var call = invoke(arguments, deadline.Token);
        try
        {
            return await call.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException || (e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            await deadline.CancelAsync().ConfigureAwait(false);
            _ = call.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (e is TimeoutException)
            {
                throw new ActorCallTimeoutException($"{target.Info.Name}.{method.Name} on '{target.Key}' (in this silo) did not complete within {timeout.TotalSeconds:0.###} s{SiloConnection.ChainText(chain)}.");
            }

            throw;
        }
    }

    private async Task RunOneWayAsync(ActorReference target, Task<PooledBuffer> call)
    {
        try
        {
            using var result = await call.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            RuntimeLog.OneWayFailed(logger, target.Info.Name, target.Key, e);
        }
    }

    /// <summary>Runs a step that comes before sending (placing, launching, connecting) within the call's deadline.</summary>
    private async Task<T> WithinDeadlineAsync<T>(ActorReference target, ActorMethodInfo method, string[] chain, TimeSpan timeout, CancellationToken cancellationToken, Func<CancellationToken, Task<T>> step)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var link = cancellationToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), deadline);
        try
        {
            return await step(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ActorCallTimeoutException($"{target.Info.Name}.{method.Name} on '{target.Key}' did not complete within {timeout.TotalSeconds:0.###} s: finding, starting or connecting to its silo took all of it{SiloConnection.ChainText(chain)}.");
        }
    }

    private TimeSpan Remaining(TimeSpan timeout, long started)
    {
        var left = timeout - time.GetElapsedTime(started);
        return left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1);
    }
}
