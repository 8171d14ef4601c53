using Sandgrain.Transport.Conformance;

namespace Sandgrain.Transport.Abstractions.Tests;

// Alone: a process started by a test running beside these holds every descriptor of this process, locks
// included, between its fork and its exec, so a lock released here can look held for that instant.
[Collection(nameof(FileLockCollection))]
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

    [Fact]
    public void ConcurrentChecks_NeverSeeAFreeLockHeld_AndAHeldOneIsAlwaysSeen()
    {
        using var test = new TestContainer();
        var free = Path.Combine(test.Container.SandgrainPath, "free.lock");
        var held = Path.Combine(test.Container.SandgrainPath, "held.lock");
        FileLock.TryAcquire(free)!.Dispose();
        using var holder = FileLock.TryAcquire(held);
        Assert.NotNull(holder);

        // Each thread opens its own file description, so their locks meet exactly as other processes' would.
        var wrong = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        Parallel.For(0, 4, _ =>
        {
            while (DateTime.UtcNow < deadline)
            {
                if (FileLock.IsHeldExclusively(free) || !FileLock.IsHeldExclusively(held))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });
        Assert.Equal(0, wrong);
    }

    [Fact]
    public void SharedHolders_AreNotAnExclusiveHolder()
    {
        using var test = new TestContainer();
        var path = Path.Combine(test.Container.SandgrainPath, "shared.lock");
        FileLock.TryAcquire(path)!.Dispose();

        // .NET takes a shared flock on the files it opens for sharing; a segment user takes one on purpose.
        using var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        FileLock.LockShared(reader.SafeFileHandle, path);
        Assert.True(FileLock.IsHeld(path));
        Assert.False(FileLock.IsHeldExclusively(path));
        Assert.Null(FileLock.TryAcquire(path));

        // Shared holders coexist, and keep the exclusive one out; an exclusive holder keeps them out.
        using (var a = FileLock.TryAcquireShared(path))
        using (var b = FileLock.TryAcquireShared(path))
        {
            Assert.NotNull(a);
            Assert.NotNull(b);
            Assert.False(FileLock.IsHeldExclusively(path));
        }

        reader.Dispose();
        using var exclusive = FileLock.TryAcquire(path);
        Assert.NotNull(exclusive);
        Assert.Null(FileLock.TryAcquireShared(path));
    }

    [Fact]
    public void DeleteAndRelease_LeavesAnEarlierOpenDetectablyStale_AndTheNextLockMakesANewFile()
    {
        using var test = new TestContainer();
        var path = Path.Combine(test.Container.SandgrainPath, "x.lock");
        var first = FileLock.TryAcquire(path)!;

        // Someone opened the file before its holder deleted it (as a racing TryAcquire does between open and flock).
        using var stale = new SafeFileHandleOwner(path);
        Assert.True(FileIdentity.IsLinkedAt(stale.Handle, path));
        first.DeleteAndRelease();
        Assert.False(File.Exists(path));

        using var second = FileLock.TryAcquire(path);
        Assert.NotNull(second);
        Assert.True(File.Exists(path));
        Assert.True(FileIdentity.TryGet(path, out var named));
        Assert.True(FileIdentity.TryGet(stale.Handle, out var old));
        Assert.NotEqual(old, named);
        Assert.True(FileIdentity.IsLinkedAt(GetHandle(second), path));
        Assert.False(FileIdentity.IsLinkedAt(stale.Handle, path));
        Assert.True(FileLock.IsHeldExclusively(path));
    }

    [Fact]
    public void ALockFileThatIsASymbolicLink_IsNeverFollowed()
    {
        using var test = new TestContainer();
        var target = Path.Combine(test.Container.SandgrainPath, "target");
        File.WriteAllText(target, "");
        var link = Path.Combine(test.Container.SandgrainPath, "link.lock");
        File.CreateSymbolicLink(link, target);

        var e = Assert.Throws<IOException>(() => FileLock.TryAcquire(link));
        output.WriteLine(e.Message);
        Assert.Contains("symbolic link", e.Message, StringComparison.Ordinal);
        Assert.False(FileLock.IsHeld(link));
        Assert.False(FileLock.IsHeldExclusively(link));

        // A dangling link is not created through either.
        File.Delete(target);
        Assert.Throws<IOException>(() => FileLock.TryAcquire(link));
        Assert.False(File.Exists(target));
    }

    [Fact]
    public void StatLayouts_MatchTheCHeaders()
    {
        Assert.Equal(256, System.Runtime.InteropServices.Marshal.SizeOf<FileIdentity.LinuxStatx>());
        Assert.Equal(32, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.LinuxStatx>(nameof(FileIdentity.LinuxStatx.Inode)));
        Assert.Equal(136, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.LinuxStatx>(nameof(FileIdentity.LinuxStatx.DeviceMajor)));
        Assert.Equal(140, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.LinuxStatx>(nameof(FileIdentity.LinuxStatx.DeviceMinor)));
        Assert.Equal(144, System.Runtime.InteropServices.Marshal.SizeOf<FileIdentity.DarwinStat>());
        Assert.Equal(8, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.DarwinStat>(nameof(FileIdentity.DarwinStat.Inode)));
        Assert.Equal(96, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.DarwinStat>(nameof(FileIdentity.DarwinStat.Size)));
        Assert.Equal(28, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.LinuxStatx>(nameof(FileIdentity.LinuxStatx.Mode)));
        Assert.Equal(40, (int)System.Runtime.InteropServices.Marshal.OffsetOf<FileIdentity.LinuxStatx>(nameof(FileIdentity.LinuxStatx.Size)));

        // And the identity read through them tells two hard links of one file from another file.
        using var test = new TestContainer();
        var a = Path.Combine(test.Container.SandgrainPath, "a");
        var b = Path.Combine(test.Container.SandgrainPath, "b");
        File.WriteAllText(a, "");
        File.WriteAllText(b, "");
        Assert.True(FileIdentity.TryGet(a, out var ia));
        Assert.True(FileIdentity.TryGet(b, out var ib));
        Assert.NotEqual(ia, ib);
        Assert.NotEqual(0UL, ia.Inode);
        using var open = File.OpenHandle(a);
        Assert.True(FileIdentity.TryGet(open, out var io));
        Assert.Equal(ia, io);
    }

    private static Microsoft.Win32.SafeHandles.SafeFileHandle GetHandle(FileLock fileLock) =>
        (Microsoft.Win32.SafeHandles.SafeFileHandle)typeof(FileLock).GetField("_handle", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(fileLock)!;

    private sealed class SafeFileHandleOwner(string path) : IDisposable
    {
        // Opened as FileLock opens it, without the shared flock .NET would take.
        public Microsoft.Win32.SafeHandles.SafeFileHandle Handle { get; } = new(FileIdentity.Open(path, FileIdentity.OpenReadWriteNoFollow), ownsHandle: true);

        public void Dispose() => Handle.Dispose();
    }
}

/// <summary>Lock tests run alone (see <see cref="FileLockTests"/>).</summary>
[CollectionDefinition(nameof(FileLockCollection), DisableParallelization = true)]
public sealed class FileLockCollection;
