using BertSharp.Distributed;

namespace BertSharp.Tests.Distributed;

public class DataParallelTests
{
    [Theory]
    [InlineData(2, 4, 1, 37)]   // short last micro-batch, split unevenly
    [InlineData(3, 2, 2, 12)]   // exact fit
    [InlineData(4, 1, 3, 2)]    // fewer examples than ranks: two ranks get nothing
    [InlineData(1, 8, 2, 21)]   // one rank is one process
    public void Ranks_together_visit_one_process_order_once_each(int ranks, int perRank, int accumulation, int examples)
    {
        // One process with batch perRank×ranks visits the epoch's order in micro-batches of that size.
        var order = Enumerable.Range(0, examples).Select(i => (i * 7919 + 13) % examples).ToArray();
        int micro = perRank * ranks;
        var oneProcess = Enumerable.Range(0, (examples + micro - 1) / micro)
            .Select(b => order.Skip(b * micro).Take(micro).ToArray()).ToArray();

        var plans = InProcessGroup.Run(ranks, c =>
        {
            var dp = new DataParallel(c, perRank, accumulation);
            Assert.Equal(perRank * ranks * accumulation, dp.GlobalBatchSize);
            return Enumerable.Range(0, dp.MicroBatchesPerEpoch(examples)).Select(b => dp.Local(b, examples)).ToArray();
        });

        Assert.All(plans, p => Assert.Equal(oneProcess.Length, p.Length));
        for (int b = 0; b < oneProcess.Length; b++)
        {
            // Rank 0's slice, then rank 1's, …: the micro-batch in one process's order.
            var joined = plans.SelectMany(p => order.Skip(p[b].Start).Take(p[b].Count)).ToArray();
            Assert.Equal(oneProcess[b], joined);
            // No rank holds more than one example more than another.
            Assert.True(plans.Max(p => p[b].Count) - plans.Min(p => p[b].Count) <= 1);
            // Σ weight = Σ count×ranks/size = ranks: averaging over ranks counts every example once.
            Assert.Equal(ranks, plans.Sum(p => (double)p[b].Weight), 4);
        }
    }

    [Fact]
    public void Weights_make_the_average_of_rank_means_the_mean_over_the_micro_batch()
    {
        // A short micro-batch of 5 over 3 ranks (2, 2, 1): per-example "losses" 1..5; one process's mean is 3.
        float[] losses = [1, 2, 3, 4, 5];
        var shards = Enumerable.Range(0, 3).Select(r => DataParallel.Split(0, losses.Length, r, 3, 6)).ToArray();
        Assert.Equal([2, 2, 1], shards.Select(s => s.Count));
        double averaged = shards.Sum(s => s.Weight * losses.Skip(s.Start).Take(s.Count).Average()) / 3;
        Assert.Equal(3.0, averaged, 6);
    }

    [Fact]
    public void Even_split_covers_every_item_once_in_order()
    {
        foreach (int ranks in new[] { 1, 2, 3, 7 })
        {
            foreach (int count in new[] { 0, 1, 6, 20, 101 })
            {
                var parts = Enumerable.Range(0, ranks).Select(r => DataParallel.Even(count, r, ranks)).ToArray();
                Assert.Equal(Enumerable.Range(0, count), parts.SelectMany(p => Enumerable.Range(p.Start, p.Count)));
            }
        }
    }

    [Fact]
    public void Bad_sizes_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataParallel(new LocalCommunicator(), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataParallel(new LocalCommunicator(), 4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataParallel.Split(3, 10, 0, 2, 4)); // micro-batch 3 starts past the end
    }

    [Fact]
    public void Root_decisions_reach_every_rank()
    {
        var seen = InProcessGroup.Run(3, c => new DataParallel(c, 1).AgreeWithRoot(c.Rank == 0));
        Assert.Equal([true, true, true], seen);
        var weights = InProcessGroup.Run(2, c =>
        {
            float[] w = [c.Rank + 1f, c.Rank + 2f];
            new DataParallel(c, 1).BroadcastFromRoot([w]);
            return w;
        });
        Assert.All(weights, w => Assert.Equal([1f, 2f], w));
    }

    [Theory]
    [InlineData("0/4", 0, 4)]
    [InlineData("3/4", 3, 4)]
    public void Shard_specs_parse(string text, int index, int count) => Assert.Equal(new ShardSpec(index, count), ShardSpec.Parse(text));

    [Theory]
    [InlineData("4/4")]
    [InlineData("1/0")]
    [InlineData("-1/2")]
    [InlineData("1")]
    [InlineData("a/b")]
    [InlineData("1/2/3")]
    public void Bad_shard_specs_say_what_is_expected(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => ShardSpec.Parse(text));
        Assert.Contains("i/N", e.Message);
    }
}
