using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Abstractions.Tests;

public sealed class FileLockTests(ITestOutputHelper output)
{
    [Fact]
    public void Lock_IsExclusive_WithinAProcess_AndReleasedOnDispose()
    {
        using var test = new TestContainer();
        var path = Path.Combine(test.Container.SandgrainPath, "x.lock");
        using (var first = FileLock.TryAcquire(path))
        {
            Assert.NotNull(first);
            Assert.Null(FileLock.TryAcquire(path));
            Assert.True(FileLock.IsHeld(path));
        }

        Assert.False(FileLock.IsHeld(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task LockHeldByAnotherProcess_IsFreedTheInstantItIsKilled()
    {
        using var test = new TestContainer();
        var path = Path.Combine(test.Container.SandgrainPath, "silo.lock");
        await using var holder = PeerProcess.Start(output, "hold-lock", "--path", path);
        await holder.WaitForReadyAsync();
        Assert.True(FileLock.IsHeld(path));
        Assert.Null(FileLock.TryAcquire(path));

        var waiting = FileLock.AcquireAsync(path, TestContext.Current.CancellationToken);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted, "the lock was taken while another process held it");

        holder.Kill();
        using var taken = await waiting.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(path, taken.Path);
    }

    [Fact]
    public void IsHeld_OnAMissingFile_IsFalse_AndCreatesNothing()
    {
        using var test = new TestContainer();
        var path = Path.Combine(test.Container.SandgrainPath, "missing.lock");
        Assert.False(FileLock.IsHeld(path));
        Assert.False(File.Exists(path));
    }
}
