namespace Sandgrain.Runtime.Messaging;

/// <summary>The interface name and key one connection decoded last (see <see cref="Protocol.DecodeRequest"/>).</summary>
internal sealed class DecodedNames
{
    /// <summary>Longer strings are decoded every time (a key of kilobytes is not worth keeping).</summary>
    internal const int MaxRemembered = 256;

    internal Name? Interface;
    internal Name? Key;

    internal sealed record Name(byte[] Utf8, string Value);
}
