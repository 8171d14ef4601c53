namespace Sandgrain.Transport.Abstractions.Tests;

public sealed class TransportAddressTests
{
    [Theory]
    [InlineData("unix:s/7f3a", "unix", "s/7f3a")]
    [InlineData("shm:7f3a", "shm", "7f3a")]
    [InlineData("mach:ABCDE12345.com.example.sg.7f3a", "mach", "ABCDE12345.com.example.sg.7f3a")]
    [InlineData("unix:deep/er/path_1-2.sock", "unix", "deep/er/path_1-2.sock")]
    public void ValidAddresses_RoundTrip(string text, string scheme, string value)
    {
        var address = TransportAddress.Parse(text);
        Assert.Equal(scheme, address.Scheme);
        Assert.Equal(value, address.Value);
        Assert.Equal(text, address.ToString());
        Assert.Equal(address, TransportAddress.Create(scheme, value));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("s/7f3a", "no scheme")]
    [InlineData(":s/7f3a", "no scheme")]
    [InlineData("tcp:127.0.0.1", "unknown scheme 'tcp'")]
    [InlineData("unix:", "nothing after 'unix:'")]
    [InlineData("unix:/tmp/x", "absolute path")]
    [InlineData("unix:s/../../etc", "'..' segment")]
    [InlineData("unix:s//x", "empty path segment")]
    [InlineData("unix:s/x/", "empty path segment")]
    [InlineData("unix:s/a b", "contains ' '")]
    [InlineData("shm:a/b", "contains '/'")]
    [InlineData("mach:name\u0001", "contains '\\u0001'")]
    public void InvalidAddresses_SayExactlyWhatIsWrong(string text, string reason)
    {
        Assert.False(TransportAddress.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        var e = Assert.Throws<FormatException>(() => TransportAddress.Parse(text));
        Assert.Equal(error, e.Message);
    }

    [Fact]
    public void OverlongValue_IsRefused_WithTheLimit()
    {
        Assert.False(TransportAddress.TryParse("shm:" + new string('a', TransportAddress.MaxValueLength + 1), out _, out var error));
        Assert.Contains($"at most {TransportAddress.MaxValueLength}", error, StringComparison.Ordinal);
        Assert.True(TransportAddress.TryParse("shm:" + new string('a', TransportAddress.MaxValueLength), out _, out _));
    }
}
