using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// One live actor: its instance, its turn scheduler and its request gate.
/// </summary>
/// <remarks>
/// Turns: every piece of the actor's code — each request, each continuation after an await, each timer tick —
/// runs on an exclusive scheduler, one at a time, so actor code never runs on two threads at once (as in Orleans).
/// A non-reentrant activation additionally admits one request at a time across its awaits (the FIFO gate); a
/// <c>[Reentrant]</c> class or an <c>[AlwaysInterleave]</c> method bypasses the gate and interleaves at awaits.
/// </remarks>
internal sealed class Activation
{
    private readonly ActorRegistration _registration;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ActorContext _context;
    private readonly IServiceScope _scope;
    private readonly ILogger _logger;
    private readonly ActorRuntime? _runtime;
    private readonly Lazy<Task> _activated;
    private readonly CancellationTokenSource _lifetime = new();
    private int _running;
    private long _lastUsed = Environment.TickCount64;
    private int _deactivated;

    internal Activation(ActorRegistration registration, string key, ActivationDirectory directory, IServiceProvider services, IActorFactory factory, ILogger logger)
    {
        _registration = registration;
        Info = registration.Info;
        Key = key;
        Id = Info.Name + "/" + key;
        Directory = directory;
        _logger = logger;
        _runtime = factory as ActorRuntime;
        Scheduler = new TurnScheduler();
        _scope = services.CreateScope();
        _context = new ActorContext(this, factory);
        _scope.ServiceProvider.GetRequiredService<ActorContextHolder>().Context = _context;
        Instance = registration.Create(_scope.ServiceProvider);
        _activated = new Lazy<Task>(() => RunOnSchedulerAsync(() => Instance is IActorLifecycle hooks ? hooks.OnActivateAsync(_lifetime.Token) : Task.CompletedTask));
    }

    internal ActorInterfaceInfo Info { get; }

    internal string Key { get; }

    internal string Id { get; }

    internal object Instance { get; }

    internal TurnScheduler Scheduler { get; }

    internal ActivationDirectory Directory { get; }

    internal bool Reentrant => _registration.Reentrant;

    internal bool IsIdle(long olderThanTicks) => Volatile.Read(ref _running) == 0 && Environment.TickCount64 - Volatile.Read(ref _lastUsed) >= olderThanTicks;

    internal bool IsDeactivated => Volatile.Read(ref _deactivated) == 1;

    internal CancellationToken Lifetime => _lifetime.Token;

    internal ILogger Logger => _logger;

    /// <summary>Runs one request as the activation's turn(s) and returns its encoded result.</summary>
    internal async Task<PooledBuffer> InvokeAsync(uint methodId, CallFlags flags, ReadOnlyMemory<byte> arguments, string[] chain, CancellationToken cancellationToken)
    {
        var gated = !Reentrant && (flags & CallFlags.AlwaysInterleave) == 0;
        Interlocked.Increment(ref _running);
        try
        {
            if (gated)
            {
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await _activated.Value.ConfigureAwait(false);
                var result = PooledBuffer.Rent();
                try
                {
                    var context = new CallContext(Id, chain, Blocking: gated);
                    await RunOnSchedulerAsync(() =>
                    {
                        CallContext.Current = context;

                        // The arguments are decoded before the dispatcher's first await: references among them belong to this runtime.
                        using (Invocation.ReferenceContext.Enter(_runtime))
                        {
                            return Info.Dispatcher.InvokeAsync(Instance, methodId, arguments, result, cancellationToken).AsTask();
                        }
                    }).ConfigureAwait(false);
                    return result;
                }
                catch
                {
                    result.Dispose();
                    throw;
                }
            }
            finally
            {
                if (gated)
                {
                    _gate.Release();
                }
            }
        }
        finally
        {
            Volatile.Write(ref _lastUsed, Environment.TickCount64);
            Interlocked.Decrement(ref _running);
        }
    }

    /// <summary>Runs a timer tick as a turn, through the gate like a request.</summary>
    internal async Task RunTimerTurnAsync(Func<CancellationToken, Task> callback)
    {
        if (IsDeactivated)
        {
            return;
        }

        var gated = !Reentrant;
        if (gated)
        {
            await _gate.WaitAsync(_lifetime.Token).ConfigureAwait(false);
        }

        try
        {
            await _activated.Value.ConfigureAwait(false);
            await RunOnSchedulerAsync(() =>
            {
                CallContext.Current = new CallContext(Id, [], Blocking: gated);
                return callback(_lifetime.Token);
            }).ConfigureAwait(false);
        }
        finally
        {
            if (gated)
            {
                _gate.Release();
            }
        }
    }

    /// <summary>Runs the deactivation hook (after the request in progress, if any) and releases the instance.</summary>
    internal async Task DeactivateAsync()
    {
        if (Interlocked.Exchange(ref _deactivated, 1) == 1)
        {
            return;
        }

        SandgrainTelemetry.ActivationChanged(-1);

        var gated = !Reentrant;
        if (gated)
        {
            await _gate.WaitAsync().ConfigureAwait(false);
        }

        try
        {
            if (_activated.IsValueCreated && Instance is IActorLifecycle hooks)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await RunOnSchedulerAsync(() => hooks.OnDeactivateAsync(timeout.Token)).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            RuntimeLog.DeactivationFailed(_logger, Id, e);
        }
        finally
        {
            await _lifetime.CancelAsync().ConfigureAwait(false);
            _context.DisposeTimers();
            if (gated)
            {
                _gate.Release();
            }

            if (_scope is IAsyncDisposable asyncScope)
            {
                await asyncScope.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                _scope.Dispose();
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> as a turn: at once on this thread when the activation is idle, else in order.</summary>
    private Task RunOnSchedulerAsync(Func<Task> work)
    {
        var turn = new Task<Task>(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach);
        Scheduler.RunInlineOrQueue(turn);
        return turn.Unwrap();
    }
}
