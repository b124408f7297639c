namespace BertSharp.Training;

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood): a tiny generator whose whole state is one ulong, so training
/// can store it in a checkpoint and replay shuffles and dropout masks across .NET versions.
/// </summary>
internal struct SplitMix64(ulong state)
{
    public ulong State = state;

    public ulong Next()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound) without modulo bias (Lemire's method).</summary>
    public ulong NextBelow(ulong bound)
    {
        ulong threshold = (0 - bound) % bound;
        while (true)
        {
            ulong r = Next();
            UInt128 product = (UInt128)r * bound;
            if ((ulong)product >= threshold) return (ulong)(product >> 64);
        }
    }
}
