using MessagePack;
using Sandgrain.Runtime.Invocation;
using Sandgrain.TestActors;

namespace Sandgrain.Runtime.Tests;

/// <summary>The formatters the generator writes for [MessagePackObject] types: chosen first, and wire-compatible.</summary>
public sealed class GeneratedFormatterTests
{
    [Fact]
    public void MessagePackObjectTypes_UseTheGeneratedFormatter()
    {
        var formatter = Serializer.Options.Resolver.GetFormatter<DeviceInfo>();
        Assert.NotNull(formatter);
        Assert.Equal("Sandgrain.Generated", formatter.GetType().Namespace);
        Assert.Same(typeof(DeviceInfo).Assembly, formatter.GetType().Assembly);
    }

    [Fact]
    public void GeneratedBytes_EqualMessagePacksOwn_AndRoundTrip()
    {
        var info = new DeviceInfo { Name = "usb:1234", Opens = 3, Tags = ["a", "b"] };
        var generated = Encode(info);
        var dynamic = MessagePackSerializer.Serialize(info, MessagePackSerializerOptions.Standard, TestContext.Current.CancellationToken);
        Assert.Equal(dynamic, generated);

        var reader = new MessagePackReader(generated);
        var back = Serializer.Read<DeviceInfo>(ref reader);
        Assert.Equal(info.Name, back.Name);
        Assert.Equal(info.Opens, back.Opens);
        Assert.Equal(info.Tags, back.Tags);

        var nothing = Encode<DeviceInfo?>(null);
        reader = new MessagePackReader(nothing);
        Assert.Null(Serializer.Read<DeviceInfo?>(ref reader));
    }

    [Fact]
    public void ExtraTrailingFields_FromANewerPeer_AreSkipped()
    {
        // A newer build with a fourth key: [name, opens, tags, 42].
        var buffer = PooledBuffer.Rent();
        var writer = buffer.CreateWriter();
        writer.WriteArrayHeader(4);
        writer.Write("x");
        writer.Write(1);
        writer.WriteArrayHeader(0);
        writer.Write(42);
        writer.Flush();
        var reader = new MessagePackReader(buffer.WrittenMemory);
        var info = Serializer.Read<DeviceInfo>(ref reader);
        Assert.Equal("x", info.Name);
        Assert.Equal(1, info.Opens);
        Assert.True(reader.End);
        buffer.Dispose();
    }

    private static byte[] Encode<T>(T value)
    {
        using var buffer = PooledBuffer.Rent();
        var writer = buffer.CreateWriter();
        Serializer.Write(ref writer, value);
        writer.Flush();
        return buffer.WrittenMemory.ToArray();
    }
}
