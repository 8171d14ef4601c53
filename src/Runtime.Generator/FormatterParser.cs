using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;

namespace Sandgrain.Runtime.Generator;

/// <summary>
/// Finds the [MessagePackObject] types with integer [Key]s declared in this compilation, so their formatters are
/// generated instead of emitted at run time (Reflection.Emit is unavailable under NativeAOT).
/// </summary>
internal static class FormatterParser
{
    internal const string MessagePackObject = "MessagePack.MessagePackObjectAttribute";
    private const string KeyAttribute = "MessagePack.KeyAttribute";
    private const string IgnoreMember = "MessagePack.IgnoreMemberAttribute";

    private static readonly SymbolDisplayFormat FullyQualified = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>The model, or null for a type whose formatter is better left to MessagePack's own resolvers.</summary>
    internal static FormatterModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || type.IsGenericType || type.IsAbstract || type.IsStatic
            || type.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal)
            || type.ContainingType is { DeclaredAccessibility: not (Accessibility.Public or Accessibility.Internal) })
        {
            return null;
        }

        // [MessagePackObject(keyAsPropertyName: true)] writes a map, not an array: not handled here.
        var attribute = context.Attributes[0];
        if (attribute.ConstructorArguments.Length > 0 && attribute.ConstructorArguments[0].Value is true)
        {
            return null;
        }

        var members = new List<FormatterMember>();
        foreach (var member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (member.IsStatic || member.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == IgnoreMember))
            {
                continue;
            }

            var key = member.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == KeyAttribute);
            if (key is null)
            {
                continue;
            }

            if (key.ConstructorArguments.Length != 1 || key.ConstructorArguments[0].Value is not int index || index < 0)
            {
                return null; // string keys: leave it to MessagePack
            }

            switch (member)
            {
                case IPropertySymbol { GetMethod: not null, SetMethod: not null, IsIndexer: false } property
                    when property.DeclaredAccessibility == Accessibility.Public && property.SetMethod.DeclaredAccessibility == Accessibility.Public:
                    members.Add(new FormatterMember(index, property.Name, property.Type.ToDisplayString(FullyQualified), property.SetMethod.IsInitOnly));
                    break;
                case IFieldSymbol { IsReadOnly: false, IsConst: false } field when field.DeclaredAccessibility == Accessibility.Public:
                    members.Add(new FormatterMember(index, field.Name, field.Type.ToDisplayString(FullyQualified), false));
                    break;
                default:
                    return null; // get-only or non-public keyed members need a constructor we do not match
            }
        }

        if (members.Count == 0 || members.GroupBy(m => m.Key).Any(g => g.Count() > 1))
        {
            return null;
        }

        var parameterless = type.IsValueType || type.InstanceConstructors.Any(c => c.Parameters.Length == 0 && c.DeclaredAccessibility == Accessibility.Public);
        if (!parameterless)
        {
            return null;
        }

        return new FormatterModel(
            type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat.WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted)),
            type.IsValueType,
            new EquatableArray<FormatterMember>(members.OrderBy(m => m.Key).ToImmutableArray()),
            new EquatableArray<string>(ImmutableArray<string>.Empty));
    }
}
