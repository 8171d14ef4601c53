using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>The state machine: activating once, deactivating once, decided under the lock against requests entering.</summary>
internal sealed partial class Activation
{
    /// <summary>Moves to <see cref="ActivationState.Deactivating"/> if the activation has been idle that long; atomic against entering.</summary>
    internal bool TryBeginIdleDeactivation(TimeSpan idle)
    {
        lock (_lock)
        {
            if (_state != ActivationState.Active || _entered > 0 || _services.Time.GetElapsedTime(_lastUsed) < idle)
            {
                return false;
            }

            _state = ActivationState.Deactivating;
            return true;
        }
    }

    /// <summary>Moves to <see cref="ActivationState.Deactivating"/> whatever it is doing; false when it already was.</summary>
    internal bool TryBeginDeactivation()
    {
        lock (_lock)
        {
            if (_state >= ActivationState.Deactivating)
            {
                return false;
            }

            _state = ActivationState.Deactivating;
            return true;
        }
    }

    /// <summary>Deactivates once no request is inside (at once when none is).</summary>
    internal void DeactivateOnIdle()
    {
        if (RequestDeactivationWhenIdle())
        {
            _services.Deactivate(this);
        }
    }

    private bool RequestDeactivationWhenIdle()
    {
        lock (_lock)
        {
            _deactivateWhenIdle = true;
            if (_entered == 0 && _state < ActivationState.Deactivating)
            {
                _state = ActivationState.Deactivating;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// After <see cref="TryBeginDeactivation"/> (or its idle variant) returned true: waits for the requests inside to
    /// finish, runs the deactivation hook (if the activation ever activated) and releases the instance. The directory
    /// removes the entry and then calls <see cref="MarkGone"/>.
    /// </summary>
    internal async Task DeactivateAsync()
    {
        lock (_lock)
        {
            if (_entered == 0)
            {
                _drained.TrySetResult();
            }
        }

        await _drained.Task.ConfigureAwait(false);
        try
        {
            if (_activated is { IsCompletedSuccessfully: true } && Instance is IActorLifecycle hooks)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), _services.Time);
                await RunTurnAsync(() => hooks.OnDeactivateAsync(timeout.Token)).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            RuntimeLog.DeactivationFailed(_services.Logger, Id, e);
        }
        finally
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
    }

    internal void MarkGone()
    {
        lock (_lock)
        {
            _state = ActivationState.Gone;
        }

        _gone.TrySetResult();
    }

    private void Exit(bool touch)
    {
        var deactivateNow = false;
        lock (_lock)
        {
            _entered--;
            if (touch)
            {
                _lastUsed = _services.Time.GetTimestamp();
            }

            if (_entered == 0)
            {
                if (_state == ActivationState.Deactivating)
                {
                    _drained.TrySetResult();
                }
                else if (_deactivateWhenIdle)
                {
                    _state = ActivationState.Deactivating;
                    deactivateNow = true;
                }
            }
        }

        if (deactivateNow)
        {
            _services.Deactivate(this);
        }
    }

    /// <summary>Runs <c>OnActivateAsync</c> once; a failure ends this activation so that the next call tries a new one.</summary>
    private Task EnsureActivatedAsync()
    {
        // Activated once and for good: every later request passes here without the lock.
        if (Volatile.Read(ref _activated) is { IsCompletedSuccessfully: true } activated)
        {
            return activated;
        }

        lock (_lock)
        {
            _activated ??= ActivateAsync();
            return _activated;
        }
    }

    private async Task ActivateAsync()
    {
        // Off the lock: the hook is user code.
        await Task.Yield();
        try
        {
            await RunTurnAsync(() => Instance is IActorLifecycle hooks ? hooks.OnActivateAsync(_lifetime.Token) : Task.CompletedTask).ConfigureAwait(false);
            lock (_lock)
            {
                if (_state == ActivationState.Activating)
                {
                    _state = ActivationState.Active;
                }
            }
        }
        catch
        {
            if (TryBeginDeactivation())
            {
                _services.Deactivate(this);
            }

            throw;
        }
    }

    private async Task ReleaseAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _context.DisposeTimers();
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
