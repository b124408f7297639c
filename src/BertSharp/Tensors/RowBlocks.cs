namespace BertSharp.Tensors;

/// <summary>
/// Rows split into <see cref="Count"/> blocks of whole strips (a microkernel's height), as even as whole strips allow:
/// the first blocks hold one strip more than the rest, and only the last strip may be short.
/// </summary>
internal readonly struct RowBlocks
{
    private readonly int _rows, _strip, _stripsPerBlock, _tallBlocks;

    public RowBlocks(int rows, int strip, int count)
    {
        int strips = (rows + strip - 1) / strip;
        Count = Math.Clamp(count, 1, Math.Max(1, strips));
        (_rows, _strip) = (rows, strip);
        (_stripsPerBlock, _tallBlocks) = Math.DivRem(strips, Count);
    }

    /// <summary>
    /// Blocks of at most maxRows, as many as the threads share in whole rounds: tasks of one height each
    /// (1024 rows as five blocks of 192 and one of 64 kept one of two threads busy three tall blocks while
    /// the other ran two and the short one, 11 % of the time idle).
    /// </summary>
    public static RowBlocks Balanced(int rows, int strip, int maxRows, int threads)
    {
        int count = (rows + maxRows - 1) / maxRows;
        return new RowBlocks(rows, strip, (count + threads - 1) / threads * threads);
    }

    public int Count { get; }

    /// <summary>Block i's first row and its row count (never more than ⌈strips / Count⌉ strips).</summary>
    public (int Start, int Rows) this[int i]
    {
        get
        {
            int start = (i * _stripsPerBlock + Math.Min(i, _tallBlocks)) * _strip;
            return (start, Math.Min((_stripsPerBlock + (i < _tallBlocks ? 1 : 0)) * _strip, _rows - start));
        }
    }
}
