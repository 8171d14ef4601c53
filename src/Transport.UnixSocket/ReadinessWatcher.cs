using System.Net.Sockets;
using System.Runtime.InteropServices;
using Sandgrain.Transport.Interop;

namespace Sandgrain.Transport.UnixSocket;

/// <summary>
/// Watches accepted sockets that have not yet sent anything, all on one thread: an accepted connection gets its
/// receive thread of its own only once its peer has said something (or hung up). A peer that connects and stays
/// silent costs a descriptor and a slot here, never a thread — thousands of silent connections are one thread
/// blocked in <c>poll(2)</c>, which wakes for nothing else (no timer, no battery cost when idle).
/// </summary>
/// <remarks>
/// While a socket is in the poll set its handle holds an extra reference (<see cref="SafeHandle.DangerousAddRef"/>),
/// so a connection disposed meanwhile is not closed (and its descriptor number not reused) until the poll
/// returns; disposing wakes the poll (the socket is shut down, and the watcher's wake socket is written).
/// </remarks>
internal sealed unsafe class ReadinessWatcher : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<Watch> _watching = [];
    private readonly Socket _wakeRead;
    private readonly Socket _wakeWrite;
    private Thread? _thread;
    private bool _disposed;

    internal ReadinessWatcher()
    {
        // A connected pair (socketpair(2), no file anywhere): a byte written to one end wakes the poll, which
        // watches the other end too.
        int* pair = stackalloc int[2];
        if (LibC.SocketPair(LibC.AF_UNIX, LibC.SOCK_STREAM, 0, pair) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"socketpair failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        _wakeRead = new Socket(new SafeSocketHandle(pair[0], ownsHandle: true)) { Blocking = false };
        _wakeWrite = new Socket(new SafeSocketHandle(pair[1], ownsHandle: true)) { Blocking = false };
    }

    /// <summary>Connections waiting for their first bytes.</summary>
    internal int Count
    {
        get
        {
            lock (_lock)
            {
                return _watching.Count;
            }
        }
    }

    /// <summary>
    /// Completes (on the thread pool) once <paramref name="socket"/> is readable or hung up, or once
    /// <paramref name="cancellationToken"/> is cancelled (then it is cancelled too, and the socket is no longer watched).
    /// </summary>
    internal Task WaitReadableAsync(Socket socket, CancellationToken cancellationToken)
    {
        var watch = new Watch(socket);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _watching.Add(watch);
            if (_thread is null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "sandgrain-unix-wait" };
                _thread.Start();
            }
        }

        Wake();
        if (cancellationToken.CanBeCanceled)
        {
            watch.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (watcher, watched) = ((ReadinessWatcher, Watch))state!;
                if (watcher.Remove(watched))
                {
                    watched.Done.TrySetCanceled(token);
                    watcher.Wake();
                }
            }, (this, watch));
        }

        return watch.Done.Task;
    }

    public void Dispose()
    {
        List<Watch> left;
        lock (_lock)
        {
            _disposed = true;
            left = [.. _watching];
            _watching.Clear();
        }

        foreach (var watch in left)
        {
            watch.Done.TrySetCanceled();
        }

        Wake();
        _wakeWrite.Dispose();
    }

    private bool Remove(Watch watch)
    {
        lock (_lock)
        {
            return _watching.Remove(watch);
        }
    }

    private void Wake()
    {
        try
        {
            _wakeWrite.Send([1], SocketFlags.None);
        }
        catch (SocketException)
        {
            // The wake socket is full (the poll has a wake pending already) or closed (disposed).
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Run()
    {
        var drain = new byte[256];
        while (true)
        {
            Watch[] watching;
            lock (_lock)
            {
                if (_disposed)
                {
                    _wakeRead.Dispose();
                    return;
                }

                watching = [.. _watching];
            }

            var fds = new LibC.PollFd[watching.Length + 1];
            fds.AsSpan().Fill(new LibC.PollFd { Fd = -1 });
            var held = new bool[watching.Length];
            fds[0] = new LibC.PollFd { Fd = (int)_wakeRead.Handle, Events = LibC.POLLIN };
            try
            {
                for (var i = 0; i < watching.Length; i++)
                {
                    var handle = watching[i].Socket.SafeHandle;
                    handle.DangerousAddRef(ref held[i]);
                    fds[i + 1] = new LibC.PollFd { Fd = (int)handle.DangerousGetHandle(), Events = LibC.POLLIN };
                }
            }
            catch (ObjectDisposedException)
            {
                // Disposed while being added: its own cancellation removes it; poll without it this time.
            }

            int ready;
            fixed (LibC.PollFd* p = fds)
            {
                ready = LibC.Poll(p, (nuint)fds.Length, -1);
            }

            var errno = ready < 0 ? Marshal.GetLastPInvokeError() : 0;
            for (var i = 0; i < watching.Length; i++)
            {
                if (held[i])
                {
                    watching[i].Socket.SafeHandle.DangerousRelease();
                }
            }

            if (ready < 0)
            {
                if (errno == LibC.EINTR)
                {
                    continue;
                }

                // Nothing else can fail for a valid set; give every waiter its thread rather than stall them.
                fds.AsSpan(1).Fill(new LibC.PollFd { Revents = LibC.POLLIN });
            }

            if ((fds[0].Revents & LibC.POLLIN) != 0)
            {
                _ = _wakeRead.Receive(drain, SocketFlags.None, out _);
            }

            for (var i = 0; i < watching.Length; i++)
            {
                // Anything at all (data, hang-up, error, a descriptor closed under the poll): the connection's
                // own receive loop finds out which, on its own thread.
                if (fds[i + 1].Revents != 0 && Remove(watching[i]))
                {
                    watching[i].Registration.Dispose();
                    watching[i].Done.TrySetResult();
                }
            }
        }
    }

    private sealed class Watch(Socket socket)
    {
        internal Socket Socket { get; } = socket;

        internal TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal CancellationTokenRegistration Registration { get; set; }
    }
}
