namespace BertSharp.Training;

/// <summary>
/// One tokenized example of any task: ids with [CLS]/[SEP] already in, and its targets in the layout its
/// head reads — <see cref="Labels"/> one per example (a class id, start and end) or one per token
/// (padded with the ignore index when batched), <see cref="Targets"/> real values (0/1 per label, a score).
/// </summary>
internal sealed record EncodedExample(int[] InputIds, int[] TokenTypeIds, int[] Labels, float[] Targets)
{
    /// <summary>A single-label example.</summary>
    public EncodedExample(int[] inputIds, int[] tokenTypeIds, int label) : this(inputIds, tokenTypeIds, [label], []) { }

    /// <summary>The first label (a single-label example's class id).</summary>
    public int Label => Labels[0];
}
