namespace BertSharp.Model;

/// <summary>
/// Hands out one key per dropout call in training: the key depends on the seed and on how many
/// calls came before, so the same seed and the same sequence of steps give the same masks.
/// </summary>
internal sealed class DropoutStream(int seed)
{
    private readonly ulong _seed = Dropout.Mix((ulong)(uint)seed ^ 0x5DEECE66DUL);

    /// <summary>Number of keys handed out; tests rewind it to replay a forward pass with the same masks.</summary>
    public long Position { get; set; }

    /// <summary>
    /// Where the batch's first sequence stands in the batch whose masks are drawn: 0, unless a data-parallel rank runs
    /// sequences s… of a micro-batch one process would run whole, and must draw exactly that process's masks for them.
    /// </summary>
    public long FirstSequence { get; set; }

    /// <summary>The mask index of a call's first element, for a call with <paramref name="elementsPerSequence"/> values per sequence.</summary>
    public long Offset(long elementsPerSequence) => FirstSequence * elementsPerSequence;

    public ulong NextKey() => Dropout.Mix(_seed ^ Dropout.Mix((ulong)Position++ + 1));
}
