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

    // The context of a request or timer tick that no waiting caller precedes (nearly all of them), made once.
    private CallContext FirstInChain => field ??= new CallContext(Id, [], Blocking: false);

    private CallContext FirstInChainBlocking => field ??= new CallContext(Id, [], Blocking: true);

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
    internal async ValueTask<PooledBuffer> InvokeEnteredAsync(ActorMethodInfo method, PooledBuffer arguments, string[] chain, CancellationToken cancellationToken)
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
                    var context = chain.Length > 0 ? new CallContext(Id, chain, Blocking: gated) : gated ? FirstInChainBlocking : FirstInChain;
                    await RunTurnAsync(RequestTurn.Take(this, method.Id, arguments, result, context, cancellationToken), RequestTurn.Run).ConfigureAwait(false);
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
            // The invocation was the arguments' last user (the dispatcher decoded them into values of their own).
            arguments.Recycle();
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
                    CallContext.Current = gated ? FirstInChainBlocking : FirstInChain;
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
    private Task RunTurnAsync(Func<Task> work) => RunTurnAsync(work, static w => ((Func<Task>)w!)());

    /// <summary>Runs <paramref name="work"/> with <paramref name="state"/> as a turn (see <see cref="RunTurnAsync(Func{Task})"/>).</summary>
    /// <remarks>Awaits the turn and then the task it returned (no unwrapping promise): a turn that ran inline and completed costs no more allocations.</remarks>
    private async Task RunTurnAsync(object? state, Func<object?, Task> work)
    {
        var turn = new Task<Task>(work, state, CancellationToken.None, TaskCreationOptions.DenyChildAttach);
        Scheduler.RunInlineOrQueue(turn);
        await (await turn.ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>
    /// What a request's turn needs, in one object for a static delegate (instead of a closure and a delegate per
    /// call), and reused: a turn runs once, takes what it needs out, and leaves the object for its thread's next request.
    /// </summary>
    private sealed class RequestTurn
    {
        internal static readonly Func<object?, Task> Run = static s => ((RequestTurn)s!).Invoke();

        [ThreadStatic]
        private static RequestTurn? t_spare;

        private Activation? _activation;
        private uint _methodId;
        private PooledBuffer? _arguments;
        private PooledBuffer? _result;
        private CallContext? _context;
        private CancellationToken _cancellationToken;

        internal static RequestTurn Take(Activation activation, uint methodId, PooledBuffer arguments, PooledBuffer result, CallContext context, CancellationToken cancellationToken)
        {
            var turn = t_spare ?? new RequestTurn();
            t_spare = null;
            turn._activation = activation;
            turn._methodId = methodId;
            turn._arguments = arguments;
            turn._result = result;
            turn._context = context;
            turn._cancellationToken = cancellationToken;
            return turn;
        }

        private Task Invoke()
        {
            var (activation, methodId, arguments, result, context, cancellationToken) = (_activation!, _methodId, _arguments!, _result!, _context!, _cancellationToken);
            (_activation, _arguments, _result, _context, _cancellationToken) = (null, null, null, null, default);
            t_spare ??= this;

            CallContext.Current = context;

            // The arguments are decoded before the dispatcher's first await: references among them belong to this silo.
            using (ReferenceContext.Enter(activation._services.Invoker()))
            {
                return activation.Info.Dispatcher.InvokeAsync(activation.Instance, methodId, arguments.WrittenMemory, result, cancellationToken).AsTask();
            }
        }
    }
}
