using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// One live actor: its instance, its state, its turn scheduler and its request gate.
/// </summary>
/// <remarks>
/// Turns: every piece of the actor's code — each request, each continuation after an await, each timer tick —
/// runs on an exclusive scheduler, one at a time, so actor code never runs on two threads at once (as in Orleans).
/// A non-reentrant activation also admits one writing request at a time across its awaits (<see cref="TurnGate"/>);
/// a <c>[Reentrant]</c> class or an <c>[AlwaysInterleave]</c> method bypasses the gate. Entering is decided under
/// the activation's lock against deactivation, so a request runs on an activation that is active, or not at all.
/// </remarks>
internal sealed partial class Activation
{
    private readonly ActorRegistration _registration;
    private readonly TurnGate _gate = new();
    private readonly ActorContext _context;
    private readonly IServiceScope _scope;
    private readonly ActivationServices _services;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _gone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ActivationState _state = ActivationState.Activating;
    private Task? _activated;
    private int _entered;
    private long _lastUsed;
    private bool _deactivateWhenIdle;

    internal Activation(ActorRegistration registration, string key, ActivationServices services)
    {
        _registration = registration;
        _services = services;
        Info = registration.Info;
        Key = key;
        Id = Info.Name + "/" + key;
        _lastUsed = services.Time.GetTimestamp();
        _scope = services.Provider.CreateScope();
        _context = new ActorContext(this, services.Factory());
        _scope.ServiceProvider.GetRequiredService<ActorContextHolder>().Context = _context;
        Instance = registration.Create(_scope.ServiceProvider);
    }

    internal ActorInterfaceInfo Info { get; }

    internal string Key { get; }

    internal string Id { get; }

    internal object Instance { get; }

    internal TurnScheduler Scheduler { get; } = new();

    internal bool Reentrant => _registration.Reentrant;

    internal ActivationState State
    {
        get
        {
            lock (_lock)
            {
                return _state;
            }
        }
    }

    /// <summary>Completes once the activation is deactivated and out of the directory.</summary>
    internal Task Gone => _gone.Task;

    internal CancellationToken Lifetime => _lifetime.Token;

    internal ILogger Logger => _services.Logger;

    internal TimeProvider Time => _services.Time;

    /// <summary>Lets a request (or a timer tick) in; false once the activation is deactivating.</summary>
    internal bool TryEnter()
    {
        lock (_lock)
        {
            if (_state >= ActivationState.Deactivating)
            {
                return false;
            }

            _entered++;
            return true;
        }
    }

    /// <summary>
    /// Runs one entered request as the activation's turn(s) and returns its encoded result. The request owns
    /// <paramref name="arguments"/> until it is done; one whose caller has given up before its turn is not run.
    /// </summary>
    internal async Task<PooledBuffer> InvokeEnteredAsync(ActorMethodInfo method, PooledBuffer arguments, string[] chain, CancellationToken cancellationToken)
    {
        var gated = !Reentrant && (method.Flags & CallFlags.AlwaysInterleave) == 0;
        var readOnly = (method.Flags & CallFlags.ReadOnly) != 0;
        try
        {
            if (gated)
            {
                await _gate.EnterAsync(readOnly, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await EnsureActivatedAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                var result = PooledBuffer.Rent();
                try
                {
                    var context = new CallContext(Id, chain, Blocking: gated);
                    await RunTurnAsync(() =>
                    {
                        CallContext.Current = context;

                        // The arguments are decoded before the dispatcher's first await: references among them belong to this silo.
                        using (ReferenceContext.Enter(_services.Invoker()))
                        {
                            return Info.Dispatcher.InvokeAsync(Instance, method.Id, arguments.WrittenMemory, result, cancellationToken).AsTask();
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
                    _gate.Exit(readOnly);
                }
            }
        }
        finally
        {
            arguments.Dispose();
            Exit(touch: true);
        }
    }

    /// <summary>Runs a timer tick as a turn, through the gate like a writing request; skipped once deactivating.</summary>
    internal async Task RunTimerTurnAsync(Func<CancellationToken, Task> callback)
    {
        if (!TryEnter())
        {
            return;
        }

        var gated = !Reentrant;
        try
        {
            if (gated)
            {
                await _gate.EnterAsync(readOnly: false, _lifetime.Token).ConfigureAwait(false);
            }

            try
            {
                await EnsureActivatedAsync().ConfigureAwait(false);
                await RunTurnAsync(() =>
                {
                    CallContext.Current = new CallContext(Id, [], Blocking: gated);
                    return callback(_lifetime.Token);
                }).ConfigureAwait(false);
            }
            finally
            {
                if (gated)
                {
                    _gate.Exit(readOnly: false);
                }
            }
        }
        finally
        {
            // Timers do not keep an activation from being collected.
            Exit(touch: false);
        }
    }

    /// <summary>Runs <paramref name="work"/> as a turn: at once on this thread when the activation is idle, else in order.</summary>
    private Task RunTurnAsync(Func<Task> work)
    {
        var turn = new Task<Task>(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach);
        Scheduler.RunInlineOrQueue(turn);
        return turn.Unwrap();
    }
}
