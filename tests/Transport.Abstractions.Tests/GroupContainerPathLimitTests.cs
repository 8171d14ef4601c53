namespace Sandgrain.Transport.Abstractions.Tests;

/// <summary>
/// A container path that no system call can reach is refused when the container is opened, with the length, the
/// limit and which limit in the message, not later as a folder that "cannot be created" or "is not writable".
/// </summary>
public sealed class GroupContainerPathLimitTests
{
    private static readonly GroupId Group = GroupId.Parse("ABCDE12345.com.example.tests");

    [Fact]
    public void AComponentOverNameMax_IsRefused_NamingNameMaxAndTheComponent()
    {
        var component = new string('c', 256);
        var e = Assert.Throws<SandboxNameException>(() => GroupContainer.Open(Group, Path.Combine("/tmp", "sg-limits", component)));
        Assert.Contains("256 bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("NAME_MAX", e.Message, StringComparison.Ordinal);
        Assert.Contains("255", e.Message, StringComparison.Ordinal);
        Assert.Equal(component, e.Name);
        Assert.Equal(256, e.LengthBytes);
        Assert.Equal(255, e.LimitBytes);
        Assert.False(Directory.Exists(Path.Combine("/tmp", "sg-limits")), "nothing is created for a path that is refused");
    }

    [Fact]
    public void AComponentOfExactlyNameMax_IsAccepted()
    {
        var root = Path.Combine("/tmp", "sg-" + Guid.NewGuid().ToString("N")[..10]);
        try
        {
            var container = GroupContainer.Open(Group, Path.Combine(root, new string('c', 255)));
            Assert.True(Directory.Exists(container.SandgrainPath));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void APathOverPathMax_IsRefused_NamingItsLengthAndPathMax()
    {
        var pathMax = OperatingSystem.IsMacOS() ? 1024 : 4096;
        var parts = Enumerable.Repeat(new string('p', 200), (pathMax / 201) + 1);
        var path = "/tmp/" + string.Join('/', parts);
        var length = System.Text.Encoding.UTF8.GetByteCount(path);

        var e = Assert.Throws<SandboxNameException>(() => GroupContainer.Open(Group, path));
        Assert.Contains($"is {length} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains("PATH_MAX", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{pathMax}", e.Message, StringComparison.Ordinal);
        Assert.Equal(length, e.LengthBytes);
        Assert.Equal(pathMax - 1 - GroupContainer.ReservedPathBytes, e.LimitBytes);
        Assert.DoesNotContain("entitlement", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SandboxPlatform.Linux, 4096)]
    [InlineData(SandboxPlatform.MacOS, 1024)]
    public void PathMax_AtTheLimit_Fits_OneByteOver_IsRefused(SandboxPlatform platform, int pathMax)
    {
        var limit = pathMax - 1 - GroupContainer.ReservedPathBytes;
        var atLimit = PathOfLength(limit);
        GroupContainer.CheckPathLimits(atLimit, platform);
        var e = Assert.Throws<SandboxNameException>(() => GroupContainer.CheckPathLimits(atLimit + "x", platform));
        Assert.Contains(platform == SandboxPlatform.MacOS ? "macOS" : "Linux", e.Message, StringComparison.Ordinal);
        Assert.Equal(limit, e.LimitBytes);
    }

    /// <summary>A rooted path of exactly <paramref name="length"/> bytes, in components of 199 bytes.</summary>
    private static string PathOfLength(int length)
    {
        var chars = Enumerable.Range(0, length).Select(i => i % 200 == 0 ? '/' : 'p').ToArray();
        Assert.NotEqual('/', chars[^1]);
        return new string(chars);
    }
}
