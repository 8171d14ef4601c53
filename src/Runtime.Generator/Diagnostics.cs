using Microsoft.CodeAnalysis;

namespace Sandgrain.Runtime.Generator;

/// <summary>The generator's diagnostics. Each message says what to change.</summary>
internal static class Diagnostics
{
    private const string Category = "Sandgrain";

    internal static readonly DiagnosticDescriptor UnsupportedReturnType = new(
        "SG0001", "Actor method must return a task",
        "Actor method '{0}' returns '{1}'; actor methods must return Task, Task<T>, ValueTask or ValueTask<T> because every call may cross a process boundary",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor ByRefParameter = new(
        "SG0002", "Actor method parameters cannot be ref, out or in",
        "Parameter '{0}' of actor method '{1}' is passed by reference; pass it by value and return results in the task instead",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor NonMethodMember = new(
        "SG0003", "Actor interfaces can only declare methods",
        "Actor interface '{0}' declares '{1}', which is not a method; replace properties and events with methods that return tasks",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor GenericMethod = new(
        "SG0004", "Actor methods cannot be generic",
        "Actor method '{0}' is generic; use a method per concrete type, or a non-generic parameter type",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor OneWayWithResult = new(
        "SG0005", "One-way methods cannot return a result",
        "Actor method '{0}' is [OneWay] but returns '{1}'; a one-way call gets no reply, so return Task or ValueTask",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor TwoCancellationTokens = new(
        "SG0006", "At most one CancellationToken parameter",
        "Actor method '{0}' has more than one CancellationToken parameter; keep one",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor GenericInterface = new(
        "SG0007", "Actor interfaces cannot be generic",
        "Actor interface '{0}' is generic; declare a non-generic interface per type argument",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor MethodIdCollision = new(
        "SG0008", "Two actor methods have the same method id",
        "Actor methods '{0}' and '{1}' hash to the same method id 0x{2:x8}; rename one of them",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static readonly DiagnosticDescriptor UnsupportedKey = new(
        "SG0009", "Unsupported actor key kind",
        "Actor interface '{0}' uses a compound key; Sandgrain supports IGrainWithStringKey, IGrainWithGuidKey and IGrainWithIntegerKey",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    internal static DiagnosticDescriptor ById(string id) => id switch
    {
        "SG0001" => UnsupportedReturnType,
        "SG0002" => ByRefParameter,
        "SG0003" => NonMethodMember,
        "SG0004" => GenericMethod,
        "SG0005" => OneWayWithResult,
        "SG0006" => TwoCancellationTokens,
        "SG0007" => GenericInterface,
        "SG0008" => MethodIdCollision,
        _ => UnsupportedKey,
    };
}
