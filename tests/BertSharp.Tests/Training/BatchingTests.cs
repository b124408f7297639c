using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class BatchingTests
{
    [Fact]
    public void EpochOrderIsAPermutationFixedBySeedAndEpoch()
    {
        var a = BatchSampler.EpochOrder(1000, seed: 42, epoch: 0);
        Assert.Equal(Enumerable.Range(0, 1000), a.Order());
        Assert.Equal(a, BatchSampler.EpochOrder(1000, seed: 42, epoch: 0));
        Assert.NotEqual(a, BatchSampler.EpochOrder(1000, seed: 42, epoch: 1));
        Assert.NotEqual(a, BatchSampler.EpochOrder(1000, seed: 43, epoch: 0));
    }

    [Fact]
    public void CollatePadsToTheLongestAndMasksPadding()
    {
        var examples = new[]
        {
            new EncodedExample([101, 1045, 102], [0, 0, 0], 1),
            new EncodedExample([101, 1045, 2066, 17953, 102], [0, 0, 0, 1, 1], 0),
        };
        var labels = new int[2];
        var batch = BatchSampler.Collate(examples, [1, 0], padId: 0, labels);
        Assert.Equal(5, batch.SequenceLength);
        Assert.Equal(new[] { 101, 1045, 2066, 17953, 102, 101, 1045, 102, 0, 0 }, batch.InputIds);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 0, 0, 0, 0, 0 }, batch.TokenTypeIds);
        Assert.Equal(new[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, batch.AttentionMask);
        Assert.Equal(new[] { 0, 1 }, labels);
    }
}
