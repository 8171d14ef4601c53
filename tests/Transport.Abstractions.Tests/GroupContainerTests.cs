using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Abstractions.Tests;

// Alone: one test here changes HOME for the whole process for a moment, and a child process started beside it
// (the public-API consumer's dotnet build) would inherit the fake value.
[Collection(nameof(ProcessEnvironmentCollection))]
public sealed class GroupContainerTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public void Open_CreatesSandgrainFolder0700_AndLeavesNoProbeBehind()
    {
        using var test = new TestContainer();
        var container = test.Container;
        Assert.Equal(Path.Combine(container.Path, ".sandgrain"), container.SandgrainPath);
        Assert.Equal(Private, File.GetUnixFileMode(container.SandgrainPath));
        Assert.Empty(Directory.GetFileSystemEntries(container.SandgrainPath));
    }

    [Fact]
    public void Open_TightensAnExistingLooseFolder()
    {
        using var test = new TestContainer();
        File.SetUnixFileMode(test.Container.SandgrainPath, Private | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var again = GroupContainer.Open(test.Container.GroupId, test.Container.Path);
        Assert.Equal(Private, File.GetUnixFileMode(again.SandgrainPath));
    }

    [Fact]
    public void GetSandgrainFolder_RecreatesARemovedFolder()
    {
        using var test = new TestContainer();
        var registry = test.Container.GetSandgrainFolder("registry");
        Directory.Delete(test.Container.SandgrainPath, recursive: true);
        Assert.Equal(registry, test.Container.GetSandgrainFolder("registry"));
        Assert.True(Directory.Exists(registry));
        Assert.Equal(Private, File.GetUnixFileMode(registry));
    }

    [Fact]
    public void Open_OnAFileInsteadOfAFolder_FailsNamingThePath()
    {
        var file = Path.Combine("/tmp", "sg-file-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(file, "not a folder");
        try
        {
            var e = Assert.Throws<IOException>(() => GroupContainer.Open(GroupId.Parse(TestContainer.GroupIdText), file));
            Assert.Contains(file, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void DefaultPath_OnLinux_UsesXdgRuntimeDir_OrAPerUserTempFolder()
    {
        Assert.SkipWhen(OperatingSystem.IsMacOS(), "the Linux default applies off macOS only");
        var group = GroupId.Parse(TestContainer.GroupIdText);
        var path = GroupContainer.DefaultPath(group);
        Assert.EndsWith("/" + group.Value, path, StringComparison.Ordinal);
        var xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        if (!string.IsNullOrEmpty(xdg) && Directory.Exists(xdg))
        {
            Assert.StartsWith(xdg, path, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("sandgrain-" + UserAccount.EffectiveUserId, path, StringComparison.Ordinal);
            Assert.Equal(Private, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        }
    }

    [Fact]
    public void Resolve_StaysInsideTheContainer()
    {
        using var test = new TestContainer();
        Assert.Equal(Path.Combine(test.Container.Path, "a/b"), test.Container.Resolve("a/b"));
        Assert.Throws<ArgumentException>(() => test.Container.Resolve("../escape"));
        Assert.Throws<ArgumentException>(() => test.Container.Resolve("/etc/passwd"));
    }

    [Fact]
    public void RealHomeDirectory_ComesFromTheUserDatabase_NotHome()
    {
        var expected = File.ReadAllLines("/etc/passwd")
            .Select(line => line.Split(':'))
            .First(f => f.Length > 5 && f[2] == UserAccount.EffectiveUserId.ToString(System.Globalization.CultureInfo.InvariantCulture))[5];
        var old = Environment.GetEnvironmentVariable("HOME");
        Environment.SetEnvironmentVariable("HOME", "/nonexistent/app/container");
        try
        {
            Assert.Equal(expected, UserAccount.RealHomeDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable("HOME", old);
        }
    }

    [Fact]
    public void PasswdLayout_HomeOffsets_MatchTheHeaders()
    {
        Assert.Equal(32, PasswdLayout.HomeDirectoryOffset(SandboxPlatform.Linux));
        Assert.Equal(48, PasswdLayout.HomeDirectoryOffset(SandboxPlatform.MacOS));
    }
}

/// <summary>Tests that change this process's environment run alone (see <see cref="GroupContainerTests"/>).</summary>
[CollectionDefinition(nameof(ProcessEnvironmentCollection), DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection;
