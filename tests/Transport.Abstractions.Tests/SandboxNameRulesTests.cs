namespace Sandgrain.Transport.Abstractions.Tests;

/// <summary>Every limit at its value and one byte over, for macOS and Linux.</summary>
public sealed class SandboxNameRulesTests
{
    private static readonly GroupId Group = GroupId.Parse("ABCDE12345.com.example.app"); // 26 bytes
    private static readonly GroupId ShortGroup = GroupId.Parse("ABCDE12345.ipc");         // 14 bytes

    [Fact]
    public void MachName_At127Bytes_IsAccepted_At128_IsRefused()
    {
        var atLimit = new string('n', 127 - Group.Value.Length - 1);
        Assert.Equal(127, SandboxNameRules.Utf8Length(SandboxNameRules.MachServiceName(Group, atLimit)));

        var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.MachServiceName(Group, atLimit + "n"));
        Assert.Equal(128, e.LengthBytes);
        Assert.Equal(127, e.LimitBytes);
        Assert.Contains("128 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("127", e.Message, StringComparison.Ordinal);
        Assert.Contains(Group.Value, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MachName_CountsUtf8Bytes_NotCharacters()
    {
        // 'é' is two bytes in UTF-8: one character fewer fits.
        var suffix = new string('n', 127 - Group.Value.Length - 1 - 2) + "é";
        Assert.Equal(127, SandboxNameRules.Utf8Length(SandboxNameRules.MachServiceName(Group, suffix)));
        Assert.Throws<SandboxNameException>(() => SandboxNameRules.MachServiceName(Group, suffix + "n"));
    }

    [Theory]
    [InlineData("ABCDE12345.com.example.app.sg.x", true)]
    [InlineData("ABCDE12345.com.example.app", false)]          // the group id alone has no name
    [InlineData("ABCDE12345.com.example.app.", false)]         // prefix with nothing after it
    [InlineData("ABCDE12345.com.example.apps.x", false)]       // a longer group id is another group
    [InlineData("com.example.app.sg.x", false)]                // no Team ID prefix
    [InlineData("info.v002.Syphon.1234", false)]               // the name seed 000 could not register
    public void MachName_MustStartWithGroupIdAndDot(string name, bool allowed)
    {
        if (allowed)
        {
            SandboxNameRules.CheckMachServiceName(Group, name);
        }
        else
        {
            var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.CheckMachServiceName(Group, name));
            Assert.Contains("'ABCDE12345.com.example.app.'", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PosixSharedMemory_At31Bytes_IsAccepted_At32_IsRefused()
    {
        var atLimit = new string('s', 31 - ShortGroup.Value.Length - 1);
        var name = SandboxNameRules.PosixSharedMemoryName(ShortGroup, atLimit);
        Assert.Equal("ABCDE12345.ipc/" + atLimit, name);
        Assert.Equal(31, SandboxNameRules.Utf8Length(name));

        var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.PosixSharedMemoryName(ShortGroup, atLimit + "s"));
        Assert.Equal(32, e.LengthBytes);
        Assert.Equal(31, e.LimitBytes);
        Assert.Contains("32 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("at most 16 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PosixSemaphore_At30Bytes_IsAccepted_At31_IsRefused()
    {
        var atLimit = new string('s', 30 - ShortGroup.Value.Length - 1);
        Assert.Equal(30, SandboxNameRules.Utf8Length(SandboxNameRules.PosixSemaphoreName(ShortGroup, atLimit)));

        var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.PosixSemaphoreName(ShortGroup, atLimit + "s"));
        Assert.Equal(31, e.LengthBytes);
        Assert.Equal(30, e.LimitBytes);
    }

    [Fact]
    public void PosixName_WithAGroupIdTooLongForAnyName_SuggestsAShortIpcGroup()
    {
        // 28 bytes of group id leave 2 for a name: too few to be unique.
        var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.PosixSharedMemoryName(GroupId.Parse("ABCDE12345.com.example.apps1"), "abc"));
        Assert.Contains("IPC-only app group", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/leading")]
    [InlineData("a/b")]
    [InlineData("")]
    public void PosixName_Malformed_IsRefused(string suffix) =>
        Assert.Throws<SandboxNameException>(() => SandboxNameRules.PosixSharedMemoryName(ShortGroup, suffix));

    [Theory]
    [InlineData(SandboxPlatform.MacOS, 103)]
    [InlineData(SandboxPlatform.Linux, 107)]
    public void SocketPath_AtLimit_Fits_OneByteOver_IsRefused(SandboxPlatform platform, int limit)
    {
        var atLimit = "/" + new string('p', limit - 1);
        Assert.True(SandboxNameRules.SocketPathFits(atLimit, platform));
        SandboxNameRules.CheckSocketPath(atLimit, platform);

        var over = atLimit + "p";
        Assert.False(SandboxNameRules.SocketPathFits(over, platform));
        var e = Assert.Throws<SandboxNameException>(() => SandboxNameRules.CheckSocketPath(over, platform));
        Assert.Equal(limit + 1, e.LengthBytes);
        Assert.Equal(limit, e.LimitBytes);
        Assert.Contains($"{limit + 1} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains(platform == SandboxPlatform.MacOS ? "macOS" : "Linux", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SocketPathLimits_MatchTheHeaders()
    {
        // macOS sun_path[104] and Linux UNIX_PATH_MAX 108, each with the NUL.
        Assert.Equal(103, SandboxNameRules.SocketPathMaxBytes(SandboxPlatform.MacOS));
        Assert.Equal(107, SandboxNameRules.SocketPathMaxBytes(SandboxPlatform.Linux));
        Assert.Equal(127, SandboxNameRules.MachServiceNameMaxBytes);
        Assert.Equal(31, SandboxNameRules.PosixSharedMemoryNameMaxBytes);
        Assert.Equal(30, SandboxNameRules.PosixSemaphoreNameMaxBytes);
    }
}
