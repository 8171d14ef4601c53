using System.Text.RegularExpressions;
using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Mach.Tests;

/// <summary>
/// Mach addresses and names: the app-group prefix rule of the App Sandbox and the 127-byte bootstrap name limit
/// (sandbox-facts §2). The rules are checked on every platform; on macOS also through the transport itself.
/// </summary>
public sealed partial class MachNameTests
{
    private static readonly GroupId Group = GroupId.Parse(TestContainer.GroupIdText);

    [Fact]
    public void UniqueAddress_IsGroupPrefixed_WithEightHexDigits()
    {
        var first = MachEndPoint.CreateUniqueAddress(Group);
        var second = MachEndPoint.CreateUniqueAddress(Group);
        Assert.Equal(MachTransport.AddressScheme, first.Scheme);
        Assert.Matches(UniqueName(), first.Value);
        Assert.NotEqual(first, second);
        Assert.Equal(first.Value, MachEndPoint.Create(Group, first).ServiceName);
    }

    [Fact]
    public void EndPoint_IsTheFullServiceName()
    {
        var address = TransportAddress.Parse($"mach:{TestContainer.GroupIdText}.helper");
        var endpoint = MachEndPoint.Create(Group, address);
        Assert.Equal($"{TestContainer.GroupIdText}.helper", endpoint.ServiceName);
        Assert.Equal($"mach:{TestContainer.GroupIdText}.helper", endpoint.ToString());
        Assert.Same(address, endpoint.Address);
        Assert.Equal(endpoint, MachEndPoint.Create(Group, TransportAddress.Parse(address.ToString())));
        Assert.Equal(endpoint.GetHashCode(), MachEndPoint.Create(Group, TransportAddress.Parse(address.ToString())).GetHashCode());
    }

    [Fact]
    public void Name_Of127Bytes_IsAccepted_And128_IsRefused()
    {
        var prefix = TestContainer.GroupIdText + ".";
        var longest = prefix + new string('n', SandboxNameRules.MachServiceNameMaxBytes - prefix.Length);
        Assert.Equal(127, longest.Length);
        Assert.Equal(longest, MachEndPoint.Create(Group, TransportAddress.Create("mach", longest)).ServiceName);

        var e = Assert.Throws<SandboxNameException>(() => MachEndPoint.Create(Group, TransportAddress.Create("mach", longest + "n")));
        Assert.Equal(128, e.LengthBytes);
        Assert.Equal(127, e.LimitBytes);
        Assert.Contains("127", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mach:ZZZZZ99999.com.example.tests.sg.1234")]
    [InlineData("mach:ABCDE12345.com.example.testsX.sg.1234")]
    [InlineData("mach:com.example.tests")]
    [InlineData("mach:ABCDE12345.com.example.tests.")]
    public void Name_OutsideTheAppGroupPrefix_IsRefused(string text)
    {
        var e = Assert.Throws<SandboxNameException>(() => MachEndPoint.Create(Group, TransportAddress.Parse(text)));
        Assert.Contains($"'{TestContainer.GroupIdText}.'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("unix:s/abc")]
    [InlineData("shm:abc")]
    public void Address_OfAnotherScheme_IsRefused(string text)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => MachEndPoint.Create(Group, TransportAddress.Parse(text)));
        Assert.Contains(text, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheTransportAppliesTheSameRules_OnEveryPlatform()
    {
        using var container = new TestContainer();
        var transport = new MachTransport(container.Container);
        var unique = transport.CreateUniqueAddress();
        Assert.Matches(UniqueName(), unique.Value);
        var endpoint = Assert.IsType<MachEndPoint>(transport.CreateEndPoint(unique));
        Assert.Equal(unique.Value, endpoint.ServiceName);

        var tooLong = TestContainer.GroupIdText + "." + new string('n', 100);
        Assert.Throws<SandboxNameException>(() => transport.CreateEndPoint(TransportAddress.Create("mach", tooLong)));
        Assert.Throws<SandboxNameException>(() => transport.CreateEndPoint(TransportAddress.Parse("mach:ZZZZZ99999.other.sg.1")));
        Assert.ThrowsAny<ArgumentException>(() => transport.CreateEndPoint(TransportAddress.Parse("unix:s/abc")));
    }

    [GeneratedRegex(@"^ABCDE12345\.com\.example\.tests\.sg\.[0-9a-f]{8}$")]
    private static partial Regex UniqueName();
}
