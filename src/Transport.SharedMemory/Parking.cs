using Sandgrain.Transport.SharedMemory.Interop;

namespace Sandgrain.Transport.SharedMemory;

/// <summary>Why a thread parks: waiting for data in the ring it consumes, or for space in the ring it produces.</summary>
internal enum WakeKind : byte
{
    Data = (byte)'D',
    Space = (byte)'S',
}

/// <summary>How a ring's waiter sleeps and is woken: a futex-style wait on the shared word, or a doorbell byte.</summary>
internal enum WakeMechanism : byte
{
    /// <summary>Linux futex on the shared mapping.</summary>
    Futex = 1,

    /// <summary>macOS 14.4+ os_sync_wait_on_address with the shared flag.</summary>
    OsSync = 2,

    /// <summary>A one-byte message over the companion socket; works everywhere.</summary>
    Doorbell = 4,
}

/// <summary>
/// Sleeping and waking for one connection. A waiter publishes 1 in its waiter word, re-checks the ring, and
/// only then parks; a waker publishes its position, fences, and wakes only if it finds the word set, so a
/// wake syscall happens only when the other side is really parked.
/// </summary>
internal abstract unsafe class Parking
{
    internal abstract WakeMechanism Mechanism { get; }

    /// <summary>Sleeps while <c>*word</c> is 1, at most <paramref name="timeoutMs"/>; may return early.</summary>
    internal abstract void Park(int* word, WakeKind kind, int timeoutMs);

    /// <summary>Wakes the peer parked on <paramref name="word"/>.</summary>
    internal abstract void Unpark(int* word, WakeKind kind);

    /// <summary>Wakes this process's own parked threads (shutdown, peer gone).</summary>
    internal abstract void WakeLocal(int* dataWord, int* spaceWord);

    /// <summary>A doorbell byte arrived on the companion socket.</summary>
    internal virtual void OnDoorbell(byte kind)
    {
    }

    /// <summary>The mechanisms this process can use, as a bit set for the handshake.</summary>
    internal static WakeMechanism Available(bool forceDoorbell)
    {
        var mechanisms = WakeMechanism.Doorbell;
        if (!forceDoorbell && Futex.IsSupported)
        {
            mechanisms |= WakeMechanism.Futex;
        }

        if (!forceDoorbell && OsSync.IsSupported)
        {
            mechanisms |= WakeMechanism.OsSync;
        }

        return mechanisms;
    }

    /// <summary>The best mechanism both sides offer.</summary>
    internal static WakeMechanism Choose(WakeMechanism ours, WakeMechanism theirs)
    {
        var common = ours & theirs;
        return (common & WakeMechanism.Futex) != 0 ? WakeMechanism.Futex
            : (common & WakeMechanism.OsSync) != 0 ? WakeMechanism.OsSync
            : WakeMechanism.Doorbell;
    }

    /// <summary>True when <paramref name="chosen"/> is exactly one mechanism and one of <paramref name="offered"/>.</summary>
    internal static bool IsOffered(WakeMechanism chosen, WakeMechanism offered) =>
        chosen is WakeMechanism.Futex or WakeMechanism.OsSync or WakeMechanism.Doorbell && (offered & chosen) == chosen;

    internal static Parking Create(WakeMechanism mechanism, Action<byte> ringDoorbell) => mechanism switch
    {
        WakeMechanism.Futex => new FutexParking(),
        WakeMechanism.OsSync => new OsSyncParking(),
        WakeMechanism.Doorbell => new DoorbellParking(ringDoorbell),
        _ => throw new ArgumentOutOfRangeException(nameof(mechanism), mechanism, "Not a single wake mechanism."),
    };

    private sealed class FutexParking : Parking
    {
        internal override WakeMechanism Mechanism => WakeMechanism.Futex;

        internal override void Park(int* word, WakeKind kind, int timeoutMs) => Futex.Wait(word, 1, timeoutMs);

        internal override void Unpark(int* word, WakeKind kind) => Futex.Wake(word, 1);

        internal override void WakeLocal(int* dataWord, int* spaceWord)
        {
            Futex.Wake(dataWord, int.MaxValue);
            Futex.Wake(spaceWord, int.MaxValue);
        }
    }

    private sealed class OsSyncParking : Parking
    {
        internal override WakeMechanism Mechanism => WakeMechanism.OsSync;

        internal override void Park(int* word, WakeKind kind, int timeoutMs) => OsSync.Wait(word, 1, timeoutMs);

        internal override void Unpark(int* word, WakeKind kind) => OsSync.Wake(word);

        internal override void WakeLocal(int* dataWord, int* spaceWord)
        {
            OsSync.Wake(dataWord);
            OsSync.Wake(spaceWord);
        }
    }

    /// <summary>
    /// The fallback where no shared-address wait exists (macOS before 14.4): the waker sends one byte naming
    /// what it woke, and the companion socket's reader releases the matching local event. A byte that
    /// arrives before its waiter parks leaves the event set, so no wake-up is lost.
    /// </summary>
    private sealed class DoorbellParking(Action<byte> ringDoorbell) : Parking
    {
        private readonly AutoResetEvent _data = new(false);
        private readonly AutoResetEvent _space = new(false);

        internal override WakeMechanism Mechanism => WakeMechanism.Doorbell;

        internal override void Park(int* word, WakeKind kind, int timeoutMs) =>
            (kind == WakeKind.Data ? _data : _space).WaitOne(timeoutMs);

        internal override void Unpark(int* word, WakeKind kind) => ringDoorbell((byte)kind);

        internal override void WakeLocal(int* dataWord, int* spaceWord)
        {
            _data.Set();
            _space.Set();
        }

        internal override void OnDoorbell(byte kind)
        {
            if (kind == (byte)WakeKind.Data)
            {
                _data.Set();
            }
            else if (kind == (byte)WakeKind.Space)
            {
                _space.Set();
            }
        }
    }
}
