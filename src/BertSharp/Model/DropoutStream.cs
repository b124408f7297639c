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

    public ulong NextKey() => Dropout.Mix(_seed ^ Dropout.Mix((ulong)Position++ + 1));
}
