using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

namespace Sandgrain.Runtime.Generator;

/// <summary>An immutable array compared by content, so incremental steps can cache models.</summary>
internal readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IEnumerable<T>
    where T : IEquatable<T>
{
    private readonly ImmutableArray<T> _items;

    public EquatableArray(ImmutableArray<T> items) => _items = items;

    public int Count => _items.IsDefault ? 0 : _items.Length;

    public T this[int index] => _items[index];

    public bool Equals(EquatableArray<T> other) => this.SequenceEqual(other);

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        var hash = 17;
        foreach (var item in this)
        {
            hash = (hash * 31) + (item?.GetHashCode() ?? 0);
        }

        return hash;
    }

    public IEnumerator<T> GetEnumerator() => (_items.IsDefault ? ImmutableArray<T>.Empty : _items).AsEnumerable().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

internal enum ReturnKind
{
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
}

internal sealed record ParameterModel(string Name, string Type, bool IsCancellationToken);

internal sealed record MethodModel(
    string Name,
    uint Id,
    string Signature,
    ReturnKind ReturnKind,
    string? ResultType,
    EquatableArray<ParameterModel> Parameters,
    bool OneWay,
    bool AlwaysInterleave,
    bool ReadOnly);

/// <summary>A diagnostic with its location stored as plain values (a Location is not cache-friendly).</summary>
internal sealed record DiagnosticInfo(string Id, EquatableArray<string> Arguments, string FilePath, int Start, int Length, int StartLine, int StartColumn, int EndLine, int EndColumn);

internal sealed record InterfaceModel(
    string Namespace,
    string Name,
    string MetadataName,
    string FullyQualifiedName,
    string KeyKind,
    bool IsObserver,
    EquatableArray<MethodModel> Methods,
    EquatableArray<DiagnosticInfo> Diagnostics);
