using System.ComponentModel;
using MessagePack;
using MessagePack.Formatters;

namespace Sandgrain.Runtime.Invocation;

/// <summary>
/// Formatters generated for the application's [MessagePackObject] types; consulted before MessagePack's own
/// resolvers, so those types need no Reflection.Emit at run time. Filled by generated module initializers.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class GeneratedFormatters : IFormatterResolver
{
    /// <summary>The resolver.</summary>
    public static GeneratedFormatters Instance { get; } = new();

    private GeneratedFormatters()
    {
    }

    /// <summary>Registers a generated formatter (called by generated code).</summary>
    public static void Register<T>(IMessagePackFormatter<T> formatter) => Cache<T>.Formatter = formatter;

    /// <inheritdoc />
    public IMessagePackFormatter<T>? GetFormatter<T>()
    {
        if (Cache<T>.Formatter is null)
        {
            // The registration lives in the module initializer of the assembly that declares T.
            System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(T).Module.ModuleHandle);
        }

        return Cache<T>.Formatter;
    }

    private static class Cache<T>
    {
        internal static IMessagePackFormatter<T>? Formatter;
    }
}
