namespace BertSharp.Data;

/// <summary>
/// Steele, Lea and Flood's SplitMix64 generator (Java's SplittableRandom), spelled out here so that a
/// seed gives the same shuffle on every .NET version and machine: System.Random's seeded algorithm
/// is an implementation detail that has changed before.
/// </summary>
internal struct SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// A uniform integer in [0, bound): Lemire's multiply-shift with rejection ("Fast random integer
    /// generation in an interval", 2019), which has no modulo bias.
    /// </summary>
    public int NextInt(int bound)
    {
        ulong n = (ulong)bound;
        ulong hi = Math.BigMul(Next(), n, out ulong lo);
        if (lo < n)
        {
            ulong threshold = (0UL - n) % n;
            while (lo < threshold)
                hi = Math.BigMul(Next(), n, out lo);
        }
        return (int)hi;
    }

    /// <summary>
    /// Fisher–Yates (Durstenfeld): for i from n−1 down to 1, swap item i with item NextInt(i + 1).
    /// </summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
