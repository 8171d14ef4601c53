namespace Sandgrain.Runtime.Activations;

/// <summary>The <see cref="IActorContext"/> of one activation.</summary>
internal sealed class ActorContext(Activation activation, IActorFactory factory) : IActorContext
{
    private readonly List<ActorTimer> _timers = [];

    public string ActorId => activation.Id;

    public string Key => activation.Key;

    public Guid GuidKey => Guid.TryParseExact(activation.Key, "N", out var key)
        ? key
        : throw new InvalidOperationException($"{activation.Id} is not addressed by a Guid key.");

    public long IntegerKey => long.TryParse(activation.Key, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var key)
        ? key
        : throw new InvalidOperationException($"{activation.Id} is not addressed by an integer key.");

    public IActorFactory Factory => factory;

    public IDisposable RegisterTimer(Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ActorTimer(activation, callback, dueTime, period);
        lock (_timers)
        {
            _timers.Add(timer);
        }

        return timer;
    }

    public void DeactivateOnIdle() => activation.DeactivateOnIdle();

    internal void DisposeTimers()
    {
        lock (_timers)
        {
            foreach (var timer in _timers)
            {
                timer.Dispose();
            }

            _timers.Clear();
        }
    }

    private sealed class ActorTimer : IDisposable
    {
        private readonly Activation _activation;
        private readonly Func<CancellationToken, Task> _callback;
        private readonly ITimer _timer;
        private int _running;

        internal ActorTimer(Activation activation, Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period)
        {
            _activation = activation;
            _callback = callback;
            _timer = activation.Time.CreateTimer(static state => _ = ((ActorTimer)state!).TickAsync(), this, dueTime, period);
        }

        public void Dispose() => _timer.Dispose();

        private async Task TickAsync()
        {
            if (Interlocked.Exchange(ref _running, 1) == 1)
            {
                return;
            }

            try
            {
                await _activation.RunTimerTurnAsync(_callback).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_activation.State >= ActivationState.Deactivating)
            {
                // Deactivated while waiting for its turn.
            }
            catch (Exception e)
            {
                RuntimeLog.TimerFailed(_activation.Logger, _activation.Id, e);
            }
            finally
            {
                Volatile.Write(ref _running, 0);
            }
        }
    }
}
