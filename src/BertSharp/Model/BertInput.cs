namespace BertSharp.Model;

/// <summary>
/// A padded batch of encoded sequences, row-major [batch, sequence]: what the tokenizer's batch
/// encoding produces and what the encoder consumes.
/// </summary>
public sealed record BertInput(int BatchSize, int SequenceLength, int[] InputIds, int[] TokenTypeIds, int[] AttentionMask)
{
    /// <summary>Sequences first … first + count − 1 as a batch of their own.</summary>
    internal BertInput Rows(int first, int count)
    {
        int from = first * SequenceLength, n = count * SequenceLength;
        return new BertInput(count, SequenceLength, InputIds.AsSpan(from, n).ToArray(), TokenTypeIds.AsSpan(from, n).ToArray(),
            AttentionMask.AsSpan(from, n).ToArray());
    }

    /// <summary>Checks that every array holds batch × sequence values.</summary>
    public void Validate()
    {
        int n = BatchSize * SequenceLength;
        if (BatchSize <= 0 || SequenceLength <= 0)
            throw new ArgumentException($"batch size ({BatchSize}) and sequence length ({SequenceLength}) must be positive");
        if (InputIds.Length != n) throw new ArgumentException($"input_ids holds {InputIds.Length} ids, expected {BatchSize}×{SequenceLength}");
        if (TokenTypeIds.Length != n) throw new ArgumentException($"token_type_ids holds {TokenTypeIds.Length} ids, expected {BatchSize}×{SequenceLength}");
        if (AttentionMask.Length != n) throw new ArgumentException($"attention_mask holds {AttentionMask.Length} values, expected {BatchSize}×{SequenceLength}");
    }
}
