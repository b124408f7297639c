using BertSharp.Data;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// The order of examples in each epoch. A permutation derived only from (seed, epoch), so a resumed
/// run replays exactly the batches the interrupted one would have seen.
/// </summary>
internal static class BatchSampler
{
    public static int[] EpochOrder(int count, int seed, int epoch, IReadOnlyList<EncodedExample>? groupByLength = null)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        new SplitMix64(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1)).Shuffle(order.AsSpan());
        if (groupByLength is not null)
        {
            // HF's LengthGroupedSampler idea: sort within pools of 50 batches-worth so each batch holds
            // similar lengths while the epoch stays shuffled.
            const int pool = 400;
            for (int start = 0; start < count; start += pool)
            {
                int len = Math.Min(pool, count - start);
                Array.Sort(order, start, len, Comparer<int>.Create((a, b) =>
                    groupByLength[b].InputIds.Length.CompareTo(groupByLength[a].InputIds.Length)));
            }
        }
        return order;
    }

    /// <summary>The examples at <paramref name="indices"/> as one batch padded to its longest, and their labels.</summary>
    public static BertInput Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId, Span<int> labels)
    {
        var ids = new int[indices.Length][];
        var types = new int[indices.Length][];
        for (int b = 0; b < indices.Length; b++)
        {
            var e = examples[indices[b]];
            ids[b] = e.InputIds;
            types[b] = e.TokenTypeIds;
            labels[b] = e.Label;
        }
        return DynamicPadding.Pad(ids, types, padId);
    }
}
