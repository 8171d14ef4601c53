using System.Buffers;
using Sandgrain.Runtime.Invocation;
using Sandgrain.Runtime.Messaging;

namespace Sandgrain.Runtime.Tests;

/// <summary>The request header's encoding, decoded with the connection's memory of the names it saw last.</summary>
public sealed class ProtocolTests
{
    [Fact]
    public void ARequestForTheSameActor_DecodesToTheSameStrings_AndAnotherKeyToItsOwn()
    {
        var names = new DecodedNames();
        var first = Decode(Encode("Sandgrain.Tests.ICounter", "device-1"), names);
        var again = Decode(Encode("Sandgrain.Tests.ICounter", "device-1"), names);
        var other = Decode(Encode("Sandgrain.Tests.ICounter", "device-2"), names);

        Assert.Same(first.Interface, again.Interface);
        Assert.Same(first.Key, again.Key);
        Assert.Same(first.Interface, other.Interface);
        Assert.Equal("device-2", other.Key);
        Assert.Equal(7u, other.MethodId);
    }

    [Fact]
    public void LongKeys_AreDecodedEachTime_AndKeysOverTheLimit_CloseTheConnection()
    {
        var names = new DecodedNames();
        var longKey = new string('k', DecodedNames.MaxRemembered + 1);
        Assert.Equal(longKey, Decode(Encode("I", longKey), names).Key);
        Assert.Null(names.Key);

        var tooLong = new string('k', Protocol.MaxKeyLength + 1);
        var e = Assert.Throws<ProtocolViolationException>(() => Decode(Encode("I", tooLong), names));
        Assert.Contains($"a key of {tooLong.Length} characters (limit {Protocol.MaxKeyLength})", e.Message, StringComparison.Ordinal);
    }

    private static byte[] Encode(string @interface, string key)
    {
        using var header = PooledBuffer.Rent();
        Protocol.EncodeRequest(header, 1, RequestFlags.None, 1000, @interface, key, 7, [], null);
        return header.WrittenMemory.ToArray();
    }

    private static RequestHeader Decode(byte[] bytes, DecodedNames names) => Protocol.DecodeRequest(new ReadOnlySequence<byte>(bytes), out _, names);
}
