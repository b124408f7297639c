using BertSharp.Data;

namespace BertSharp.Tests.Data;

public class DynamicPaddingTests
{
    [Fact]
    public void PadsToTheLongestSequenceOfTheBatch()
    {
        // [CLS] a b [SEP] (4 ids) and [CLS] [SEP] (2 ids) → a 2 × 4 batch; the short row gets two [PAD]s
        // (id 0) and mask 0 there; the pair's second segment keeps type 1.
        var batch = DynamicPadding.Pad([[101, 7, 8, 102], [101, 102]], [[0, 0, 1, 1], [0, 0]], padId: 0);
        Assert.Equal(2, batch.BatchSize);
        Assert.Equal(4, batch.SequenceLength);
        Assert.Equal([101, 7, 8, 102, 101, 102, 0, 0], batch.InputIds);
        Assert.Equal([0, 0, 1, 1, 0, 0, 0, 0], batch.TokenTypeIds);
        Assert.Equal([1, 1, 1, 1, 1, 1, 0, 0], batch.AttentionMask);
        batch.Validate();
    }

    [Fact]
    public void RejectsMismatchedInputs()
    {
        Assert.Throws<ArgumentException>(() => DynamicPadding.Pad([], null, 0));
        Assert.Contains("sequence 1", Assert.Throws<ArgumentException>(() => DynamicPadding.Pad([[1, 2], [1]], [[0, 0], [0, 0]], 0)).Message);
        Assert.Contains("sequence 0", Assert.Throws<ArgumentException>(() => DynamicPadding.Pad([[]], null, 0)).Message);
    }
}
