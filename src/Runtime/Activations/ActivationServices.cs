using Microsoft.Extensions.Logging;
using Sandgrain.Runtime.Invocation;

namespace Sandgrain.Runtime.Activations;

/// <summary>
/// What an activation needs from the silo, handed in rather than found: the DI container its scope comes from,
/// the factory and the call invoker its actor code uses (late-bound: they are built after the directory), the
/// clock, the log, and the directory's way to deactivate it.
/// </summary>
internal sealed record ActivationServices(
    IServiceProvider Provider,
    Func<IActorFactory> Factory,
    Func<ICallInvoker> Invoker,
    TimeProvider Time,
    ILogger Logger,
    Action<Activation> Deactivate);
