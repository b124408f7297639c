using BertSharp.Model;

namespace BertSharp.Data;

/// <summary>
/// Builds a batch padded only to its own longest sequence (HF's <c>DataCollatorWithPadding</c>), so
/// a batch of short sentences does not pay for the maximum length. Sequences arrive already
/// tokenized and truncated, with their special tokens.
/// </summary>
internal static class DynamicPadding
{
    /// <param name="inputIds">Each sequence's token ids.</param>
    /// <param name="tokenTypeIds">Each sequence's segment ids, or <see langword="null"/> for all zeros.</param>
    /// <param name="padId">The id of [PAD] (0 in BERT vocabularies).</param>
    public static BertInput Pad(IReadOnlyList<int[]> inputIds, IReadOnlyList<int[]>? tokenTypeIds, int padId)
    {
        if (inputIds.Count == 0)
            throw new ArgumentException("a batch needs at least one sequence", nameof(inputIds));
        if (tokenTypeIds is not null && tokenTypeIds.Count != inputIds.Count)
            throw new ArgumentException($"{inputIds.Count} sequences but {tokenTypeIds.Count} token type sequences", nameof(tokenTypeIds));
        int length = 0;
        for (int b = 0; b < inputIds.Count; b++)
        {
            if (inputIds[b].Length == 0)
                throw new ArgumentException($"sequence {b} of the batch is empty", nameof(inputIds));
            if (tokenTypeIds is not null && tokenTypeIds[b].Length != inputIds[b].Length)
                throw new ArgumentException($"sequence {b} has {inputIds[b].Length} ids but {tokenTypeIds[b].Length} token type ids", nameof(tokenTypeIds));
            length = Math.Max(length, inputIds[b].Length);
        }
        int batch = inputIds.Count;
        var ids = new int[batch * length];
        var types = new int[batch * length];
        var mask = new int[batch * length];
        for (int b = 0; b < batch; b++)
        {
            int n = inputIds[b].Length;
            var row = ids.AsSpan(b * length, length);
            inputIds[b].CopyTo(row);
            row[n..].Fill(padId);
            tokenTypeIds?[b].CopyTo(types.AsSpan(b * length, n));
            mask.AsSpan(b * length, n).Fill(1);
        }
        return new BertInput(batch, length, ids, types, mask);
    }
}
