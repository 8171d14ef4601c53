using System.Globalization;
using CsCheck;

namespace Sandgrain.Transport.Conformance;

/// <summary>
/// What the fuzz targets share: the checked-in corpus (hex, one input a line, '#' comments) and a generator that
/// replays it, mutates it (byte flips, truncations, splices, length-prefix rewrites) and makes fresh random input.
/// Each target runs for <see cref="Seconds"/> (SANDGRAIN_FUZZ_SECONDS, default 10): bounded in CI, longer by hand.
/// A test project that uses it copies its corpus files to <c>Fuzz/Corpus/</c> in its output.
/// </summary>
public static class FuzzInputs
{
    public static int Seconds { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("SANDGRAIN_FUZZ_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s > 0 ? s : 10;

    public static byte[][] Corpus(string name) =>
        File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Fuzz", "Corpus", name + ".txt"))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(Convert.FromHexString)
            .ToArray();

    /// <summary>Corpus entries as they are, mutated, and random bytes.</summary>
    public static Gen<byte[]> From(IReadOnlyList<byte[]> seeds, int maxLength = 512)
    {
        Gen<byte[]> seed = Gen.Int[0, seeds.Count - 1].Select(i => seeds[i]);
        Gen<byte[]> random = Gen.Byte.Array[0, maxLength];
        Gen<byte[]> flipped = Gen.Select<byte[], int, byte, byte[]>(seed, Gen.Int, Gen.Byte, (s, at, value) =>
        {
            if (s.Length == 0)
            {
                return s;
            }

            var copy = (byte[])s.Clone();
            copy[(at & int.MaxValue) % copy.Length] = value;
            return copy;
        });
        Gen<byte[]> truncated = Gen.Select<byte[], int, byte[]>(seed, Gen.Int, (s, at) => s[..((at & int.MaxValue) % (s.Length + 1))]);
        Gen<byte[]> spliced = Gen.Select<byte[], byte[], int, byte[]>(seed, seed, Gen.Int, (a, b, at) => [.. a[..((at & int.MaxValue) % (a.Length + 1))], .. b]);
        Gen<byte[]> prefixed = Gen.Select<byte[], uint, byte[]>(seed, Gen.UInt, (s, length) =>
        {
            var copy = (byte[])s.Clone();
            if (copy.Length >= 4)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(copy, length);
            }

            return copy;
        });
        return Gen.Frequency((3, seed), (4, flipped), (2, truncated), (2, spliced), (2, prefixed), (2, random));
    }

    /// <summary>Runs <paramref name="target"/> on generated input for the time budget; returns the executions.</summary>
    public static long Run(Gen<byte[]> inputs, Action<byte[]> target, int threads = -1)
    {
        long executions = 0;
        inputs.Sample(
            input =>
            {
                Interlocked.Increment(ref executions);
                target(input);
            },
            iter: long.MaxValue,
            time: Seconds,
            threads: threads,
            print: input => Convert.ToHexString(input));
        return executions;
    }
}
