using System.ComponentModel;

namespace Sandgrain.Runtime.Invocation;

/// <summary>How a call behaves, from Orleans' attributes on the method. Used by generated code.</summary>
[Flags]
[EditorBrowsable(EditorBrowsableState.Never)]
public enum CallFlags : byte
{
    /// <summary>An ordinary request with a response.</summary>
    None = 0,

    /// <summary><c>[OneWay]</c>: no response is sent or awaited.</summary>
    OneWay = 1,

    /// <summary><c>[AlwaysInterleave]</c>: runs even while the activation is busy with another request.</summary>
    AlwaysInterleave = 2,

    /// <summary><c>[ReadOnly]</c>: does not change the actor's state.</summary>
    ReadOnly = 4,
}

/// <summary>The kind of key an actor interface is addressed by. Used by generated code.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public enum ActorKeyKind : byte
{
    /// <summary><c>IGrainWithStringKey</c>.</summary>
    String = 1,

    /// <summary><c>IGrainWithGuidKey</c>.</summary>
    Guid = 2,

    /// <summary><c>IGrainWithIntegerKey</c>.</summary>
    Integer = 3,

    /// <summary><c>IGrainObserver</c>: an object in the caller's process, addressed by a reference id.</summary>
    Observer = 4,
}

/// <summary>One method of an actor interface. Used by generated code.</summary>
/// <param name="Id">The stable method id (a hash of the method's name and parameter types).</param>
/// <param name="Name">The method name, for errors and traces.</param>
/// <param name="Flags">Its call flags.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record ActorMethodInfo(uint Id, string Name, CallFlags Flags);

/// <summary>Runs a call on an actor instance from its serialized arguments. Implemented by generated code.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface IActorDispatcher
{
    /// <summary>Decodes the arguments, calls the method and writes the encoded result (nothing for a method without one).</summary>
    ValueTask InvokeAsync(object target, uint methodId, ReadOnlyMemory<byte> arguments, System.Buffers.IBufferWriter<byte> result, CancellationToken cancellationToken);
}

/// <summary>Everything the runtime knows about one actor interface. Created by generated code.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ActorInterfaceInfo
{
    private readonly Dictionary<uint, ActorMethodInfo> _methods;

    /// <summary>Creates the description.</summary>
    public ActorInterfaceInfo(Type interfaceType, string name, ActorKeyKind keyKind, Func<ActorReference, object> createProxy, IActorDispatcher dispatcher, ActorMethodInfo[] methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        InterfaceType = interfaceType;
        Name = name;
        KeyKind = keyKind;
        CreateProxy = createProxy;
        Dispatcher = dispatcher;
        _methods = methods.ToDictionary(m => m.Id);
    }

    /// <summary>The interface.</summary>
    public Type InterfaceType { get; }

    /// <summary>Its full name, as used on the wire and in registry records.</summary>
    public string Name { get; }

    /// <summary>The key kind.</summary>
    public ActorKeyKind KeyKind { get; }

    /// <summary>Makes a proxy for a reference.</summary>
    public Func<ActorReference, object> CreateProxy { get; }

    /// <summary>Runs calls on instances.</summary>
    public IActorDispatcher Dispatcher { get; }

    /// <summary>The method with an id, or null.</summary>
    public ActorMethodInfo? Method(uint id) => _methods.GetValueOrDefault(id);

    /// <summary>Every method.</summary>
    internal IEnumerable<ActorMethodInfo> Methods => _methods.Values;

    /// <summary>The interface name without its namespace.</summary>
    public string ShortName => Name[(Name.LastIndexOf('.') + 1)..];
}

/// <summary>The process-wide table of actor interfaces, filled by generated module initializers.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class ActorTypeRegistry
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, ActorInterfaceInfo> s_byType = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ActorInterfaceInfo> s_byName = new(StringComparer.Ordinal);

    /// <summary>
    /// Registers an interface (called by generated code), and the formatter that lets references to it be passed
    /// as arguments and results.
    /// </summary>
    public static void Register<TInterface>(ActorInterfaceInfo info)
        where TInterface : class
    {
        ArgumentNullException.ThrowIfNull(info);
        s_byType[info.InterfaceType] = info;
        s_byName[info.Name] = info;
        GeneratedFormatters.Register<TInterface?>(new ActorReferenceFormatter<TInterface>());
    }

    /// <summary>The description of an interface type, or null when no proxy was generated for it.</summary>
    public static ActorInterfaceInfo? Find(Type interfaceType)
    {
        ArgumentNullException.ThrowIfNull(interfaceType);
        if (s_byType.TryGetValue(interfaceType, out var info))
        {
            return info;
        }

        // Naming a type does not run its module's initializer, which is where the generated registration
        // lives; a caller that only ever touched the interface gets it run here.
        System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(interfaceType.Module.ModuleHandle);
        return s_byType.GetValueOrDefault(interfaceType);
    }

    /// <summary>The description of an interface by its full name, or null.</summary>
    public static ActorInterfaceInfo? Find(string name) => s_byName.GetValueOrDefault(name);

    internal static ActorInterfaceInfo Require(Type interfaceType) =>
        Find(interfaceType) ?? throw new InvalidOperationException($"No Sandgrain proxy was generated for {interfaceType.FullName}. The assembly that declares it must reference the Sandgrain.Runtime.Generator analyzer, and the interface must derive from IGrainWithStringKey, IGrainWithGuidKey, IGrainWithIntegerKey or IGrainObserver.");
}
