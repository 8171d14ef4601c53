namespace Sandgrain.Transport.SharedMemory;

/// <summary>
/// The binary layout of a connection's shared segment: a versioned contract between two processes that may
/// run different builds, drawn here once. All integers are little-endian (every platform Sandgrain runs on).
/// </summary>
/// <remarks>
/// <code>
/// offset  size  field
/// 0       8     magic "SGSHMRNG"
/// 8       4     layout version — written last by the creator; 0 means "not ready"
/// 12      4     header size (= DataOffset)
/// 16      4     ring capacity in bytes (a power of two), the same for both rings
/// 20      4     creator pid (diagnostics only; liveness is the companion socket)
/// 128     512   ring 0 control (client → server)
/// 640     512   ring 1 control (server → client)
/// 4096    cap   ring 0 data
/// 4096+cap cap  ring 1 data
///
/// ring control (each field on its own 128-byte line, so producer and consumer never share one):
/// +0      8     producer position (bytes ever published; only the producer writes it)
/// +128    8     consumer position (bytes ever consumed; only the consumer writes it)
/// +136    4     consumer CPU + 1: where the consumer's thread last waited (0 unknown; only the consumer writes it)
/// +256    4     data waiter: 1 while the consumer is parked waiting for data (futex word)
/// +260    4     writer closed: 1 once the producer has published its last byte
/// +384    4     space waiter: 1 while the producer is parked waiting for space (futex word)
/// </code>
/// </remarks>
internal static class SegmentLayout
{
    internal const ulong Magic = 0x474E52_4D48534753; // "SGSHMRNG" read as a little-endian u64
    internal const int Version = 1;

    internal const int MagicOffset = 0;
    internal const int VersionOffset = 8;
    internal const int HeaderSizeOffset = 12;
    internal const int CapacityOffset = 16;
    internal const int CreatorPidOffset = 20;

    internal const int CacheLine = 128;
    internal const int RingControlOffset = 128;
    internal const int RingControlSize = 4 * CacheLine;

    internal const int ProducerPositionOffset = 0;
    internal const int ConsumerPositionOffset = CacheLine;
    internal const int ConsumerCpuOffset = CacheLine + 8;
    internal const int DataWaiterOffset = 2 * CacheLine;
    internal const int WriterClosedOffset = (2 * CacheLine) + 4;
    internal const int SpaceWaiterOffset = 3 * CacheLine;

    internal const int DataOffset = 4096;

    internal const int MinCapacity = 4096;
    internal const int MaxCapacity = 1 << 30;

    internal static long SegmentSize(int capacity) => DataOffset + (2L * capacity);

    internal static int ControlOffset(int ring) => RingControlOffset + (ring * RingControlSize);

    internal static long DataStart(int ring, int capacity) => DataOffset + ((long)ring * capacity);

    internal static bool IsValidCapacity(long capacity) =>
        capacity is >= MinCapacity and <= MaxCapacity && (capacity & (capacity - 1)) == 0;
}
