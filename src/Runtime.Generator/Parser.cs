using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Sandgrain.Runtime.Generator;

/// <summary>Turns an interface declaration into a cache-friendly model, with diagnostics for what Sandgrain cannot call.</summary>
internal static class Parser
{
    private const string StringKey = "Orleans.IGrainWithStringKey";
    private const string GuidKey = "Orleans.IGrainWithGuidKey";
    private const string IntegerKey = "Orleans.IGrainWithIntegerKey";
    private const string Observer = "Orleans.IGrainObserver";
    private const string OneWay = "Orleans.Concurrency.OneWayAttribute";
    private const string AlwaysInterleave = "Orleans.Concurrency.AlwaysInterleaveAttribute";
    private const string ReadOnly = "Orleans.Concurrency.ReadOnlyAttribute";

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private static readonly SymbolDisplayFormat SignatureFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.UseSpecialTypes)
        .WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted);

    internal static bool IsCandidate(SyntaxNode node) => node is InterfaceDeclarationSyntax { BaseList: not null };

    internal static InterfaceModel? Parse(GeneratorSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.SemanticModel.GetDeclaredSymbol(context.Node, cancellationToken) is not INamedTypeSymbol symbol)
        {
            return null;
        }

        // A partial interface is parsed once, at its first declaration.
        if (symbol.DeclaringSyntaxReferences.Length > 1 && symbol.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken) != context.Node)
        {
            return null;
        }

        var all = symbol.AllInterfaces.Select(i => i.ToDisplayString()).ToImmutableHashSet();
        var keyKind = all.Contains(StringKey) ? "String" : all.Contains(GuidKey) ? "Guid" : all.Contains(IntegerKey) ? "Integer" : null;
        var isObserver = keyKind is null && all.Contains(Observer);
        var diagnostics = new List<DiagnosticInfo>();
        if (keyKind is null && !isObserver)
        {
            if (all.Any(i => i.StartsWith("Orleans.IGrainWith", System.StringComparison.Ordinal)))
            {
                diagnostics.Add(Diagnostic(Diagnostics.UnsupportedKey, symbol.Locations.FirstOrDefault(), symbol.Name));
                return Model(symbol, "String", false, [], diagnostics);
            }

            return null;
        }

        if (symbol.IsGenericType)
        {
            diagnostics.Add(Diagnostic(Diagnostics.GenericInterface, symbol.Locations.FirstOrDefault(), symbol.Name));
            return Model(symbol, keyKind ?? "String", isObserver, [], diagnostics);
        }

        var methods = new List<MethodModel>();
        var owners = new[] { symbol }.Concat(symbol.AllInterfaces.Where(i => !i.ToDisplayString().StartsWith("Orleans.", System.StringComparison.Ordinal) && !i.ToDisplayString().StartsWith("System.", System.StringComparison.Ordinal)));
        foreach (var owner in owners)
        {
            foreach (var member in owner.GetMembers())
            {
                cancellationToken.ThrowIfCancellationRequested();
                switch (member)
                {
                    case IMethodSymbol { MethodKind: MethodKind.Ordinary } method when !method.IsStatic:
                        if (ParseMethod(method, diagnostics) is { } model)
                        {
                            methods.Add(model);
                        }

                        break;
                    case IMethodSymbol:
                        break;
                    default:
                        if (!member.IsStatic)
                        {
                            diagnostics.Add(Diagnostic(Diagnostics.NonMethodMember, member.Locations.FirstOrDefault(), symbol.Name, member.Name));
                        }

                        break;
                }
            }
        }

        foreach (var clash in methods.GroupBy(m => m.Id).Where(g => g.Count() > 1))
        {
            var pair = clash.Take(2).ToList();
            diagnostics.Add(Diagnostic(Diagnostics.MethodIdCollision, symbol.Locations.FirstOrDefault(), pair[0].Signature, pair[1].Signature, clash.Key.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)));
        }

        return Model(symbol, keyKind ?? "String", isObserver, methods, diagnostics);
    }

    /// <summary>
    /// The stable method id: FNV-1a (32-bit) of the method's name and parameter types, so the same signature
    /// gets the same id in every build on every machine, and reordering methods changes nothing.
    /// </summary>
    internal static uint MethodId(string signature)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(signature))
        {
            hash ^= b;
            hash *= 16777619u;
        }

        return hash;
    }

    private static MethodModel? ParseMethod(IMethodSymbol method, List<DiagnosticInfo> diagnostics)
    {
        var location = method.Locations.FirstOrDefault();
        var ok = true;
        if (method.IsGenericMethod)
        {
            diagnostics.Add(Diagnostic(Diagnostics.GenericMethod, location, method.Name));
            ok = false;
        }

        var returnType = method.ReturnType as INamedTypeSymbol;
        var returnName = returnType?.ConstructedFrom.ToDisplayString() ?? method.ReturnType.ToDisplayString();
        ReturnKind kind;
        string? result = null;
        switch (returnName)
        {
            case "System.Threading.Tasks.Task":
                kind = ReturnKind.Task;
                break;
            case "System.Threading.Tasks.Task<TResult>":
                kind = ReturnKind.TaskOfT;
                result = returnType!.TypeArguments[0].ToDisplayString(FullyQualified);
                break;
            case "System.Threading.Tasks.ValueTask":
                kind = ReturnKind.ValueTask;
                break;
            case "System.Threading.Tasks.ValueTask<TResult>":
                kind = ReturnKind.ValueTaskOfT;
                result = returnType!.TypeArguments[0].ToDisplayString(FullyQualified);
                break;
            default:
                diagnostics.Add(Diagnostic(Diagnostics.UnsupportedReturnType, location, method.Name, method.ReturnType.ToDisplayString()));
                return null;
        }

        var parameters = new List<ParameterModel>();
        var tokens = 0;
        foreach (var parameter in method.Parameters)
        {
            if (parameter.RefKind != RefKind.None)
            {
                diagnostics.Add(Diagnostic(Diagnostics.ByRefParameter, parameter.Locations.FirstOrDefault() ?? location, parameter.Name, method.Name));
                ok = false;
            }

            var isToken = parameter.Type.ToDisplayString() == "System.Threading.CancellationToken";
            tokens += isToken ? 1 : 0;
            parameters.Add(new ParameterModel(parameter.Name, parameter.Type.ToDisplayString(FullyQualified), isToken));
        }

        if (tokens > 1)
        {
            diagnostics.Add(Diagnostic(Diagnostics.TwoCancellationTokens, location, method.Name));
            ok = false;
        }

        var attributes = method.GetAttributes().Select(a => a.AttributeClass?.ToDisplayString()).ToImmutableHashSet();
        var oneWay = attributes.Contains(OneWay);
        if (oneWay && result is not null)
        {
            diagnostics.Add(Diagnostic(Diagnostics.OneWayWithResult, location, method.Name, method.ReturnType.ToDisplayString()));
            ok = false;
        }

        if (!ok)
        {
            return null;
        }

        var signature = method.Name + "(" + string.Join(",", method.Parameters.Select(p => p.Type.ToDisplayString(SignatureFormat))) + ")";
        return new MethodModel(
            method.Name,
            MethodId(signature),
            signature,
            kind,
            result,
            new EquatableArray<ParameterModel>(parameters.ToImmutableArray()),
            oneWay,
            attributes.Contains(AlwaysInterleave),
            attributes.Contains(ReadOnly));
    }

    private static InterfaceModel Model(INamedTypeSymbol symbol, string keyKind, bool isObserver, List<MethodModel> methods, List<DiagnosticInfo> diagnostics) =>
        new(
            symbol.ContainingNamespace.IsGlobalNamespace ? "" : symbol.ContainingNamespace.ToDisplayString(),
            symbol.Name,
            symbol.ToDisplayString(SignatureFormat),
            symbol.ToDisplayString(FullyQualified),
            keyKind,
            isObserver,
            new EquatableArray<MethodModel>(methods.ToImmutableArray()),
            new EquatableArray<DiagnosticInfo>(diagnostics.ToImmutableArray()));

    private static DiagnosticInfo Diagnostic(DiagnosticDescriptor descriptor, Location? location, params string[] arguments)
    {
        var span = location?.SourceSpan ?? default;
        var lines = location?.GetLineSpan() ?? default;
        return new DiagnosticInfo(
            descriptor.Id,
            new EquatableArray<string>(arguments.ToImmutableArray()),
            location?.SourceTree?.FilePath ?? "",
            span.Start,
            span.Length,
            lines.StartLinePosition.Line,
            lines.StartLinePosition.Character,
            lines.EndLinePosition.Line,
            lines.EndLinePosition.Character);
    }
}
