namespace Sandgrain.Runtime.Generator;

/// <summary>One keyed member of a [MessagePackObject] type.</summary>
internal sealed record FormatterMember(int Key, string Name, string Type, bool IsInitOnly);

/// <summary>
/// A [MessagePackObject] type with integer keys declared in this compilation: enough to write a formatter that
/// produces MessagePack-CSharp's own array layout (length = highest key + 1, nil in the gaps).
/// </summary>
internal sealed record FormatterModel(
    string FullyQualifiedName,
    string MetadataName,
    bool IsValueType,
    EquatableArray<FormatterMember> Members,
    EquatableArray<string> ConstructorParameters);
