namespace Sandgrain.Transport.Abstractions.Tests;

public sealed class TransportAddressTests
{
    [Theory]
    [InlineData("unix:s/7f3a", "unix", "s/7f3a")]
    [InlineData("shm:7f3a", "shm", "7f3a")]
    [InlineData("mach:ABCDE12345.com.example.sg.7f3a", "mach", "ABCDE12345.com.example.sg.7f3a")]
    [InlineData("unix:deep/er/path_1-2.sock", "unix", "deep/er/path_1-2.sock")]
    [InlineData("tcp:127.0.0.1", "tcp", "127.0.0.1")]
    [InlineData("x2:a", "x2", "a")]
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
    [InlineData("Unix:s/7f3a", "starts with a lowercase ASCII letter")]
    [InlineData("1x:a", "starts with a lowercase ASCII letter")]
    [InlineData("s-h:a", "contains '-'; schemes may use lowercase ASCII letters and digits")]
    [InlineData("abcdefghijklmnopq:a", "scheme of 17 characters; at most 16")]
    [InlineData("unix:", "nothing after 'unix:'")]
    [InlineData("unix:/tmp/x", "absolute path")]
    [InlineData("unix:s/../../etc", "'..' segment")]
    [InlineData("shm:./x", "'.' segment")]
    [InlineData("unix:s/a b", "contains ' '")]
    [InlineData("shm:a:b", "contains ':'")]
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
