using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// Builds a batch padded only to its longest member (HF's DataCollatorWithPadding), so short
/// sentences do not pay for max_length: attention cost grows with the square of the padded length.
/// </summary>
internal static class DynamicPadding
{
    public static BertInput Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId, Span<int> labels)
    {
        int longest = 0;
        foreach (var i in indices) longest = Math.Max(longest, examples[i].InputIds.Length);
        int batch = indices.Length;
        var ids = new int[batch * longest];
        var types = new int[batch * longest];
        var mask = new int[batch * longest];
        if (padId != 0) ids.AsSpan().Fill(padId);
        for (int b = 0; b < batch; b++)
        {
            var e = examples[indices[b]];
            e.InputIds.CopyTo(ids.AsSpan(b * longest));
            e.TokenTypeIds.CopyTo(types.AsSpan(b * longest));
            mask.AsSpan(b * longest, e.InputIds.Length).Fill(1);
            labels[b] = e.Label;
        }
        return new BertInput(batch, longest, ids, types, mask);
    }
}
