namespace Sandgrain.Transport.Abstractions.Tests;

public sealed class GroupIdTests
{
    [Theory]
    [InlineData("ABCDE12345.com.example.studio", true)]
    [InlineData("8Y2UTZ2NBZ.io.out-loud.outloud", true)]
    [InlineData("group.com.example.ipc", false)]
    public void ValidIds_AreAccepted(string value, bool teamPrefixed)
    {
        var id = GroupId.Parse(value);
        Assert.Equal(value, id.Value);
        Assert.Equal(teamPrefixed, id.IsTeamPrefixed);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("abcde12345.com.example", "Team ID")]       // Team IDs are upper case
    [InlineData("ABCDE1234.com.example", "Team ID")]        // 9 characters
    [InlineData("com.example.app", "Team ID")]
    [InlineData("ABCDE12345", "'TEAMID.name'")]
    [InlineData("ABCDE12345..app", "empty segments")]
    [InlineData("group.", "empty segments")]
    [InlineData("ABCDE12345.com/example", "'/'")]
    [InlineData("ABCDE12345.com example", "' '")]
    public void InvalidIds_AreRefused_SayingWhy(string value, string reason)
    {
        Assert.False(GroupId.TryParse(value, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => GroupId.Parse(value));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Equality_IsOrdinal()
    {
        Assert.Equal(GroupId.Parse("group.a.b"), GroupId.Parse("group.a.b"));
        Assert.NotEqual(GroupId.Parse("group.a.b"), GroupId.Parse("group.a.B"));
    }
}
