using BertSharp.Distributed;

namespace BertSharp.Tests.Distributed;

public class GradientAveragerTests
{
    private static float[][] Gradients(int rank, int[] lengths)
    {
        var random = new Random(rank * 31 + 5);
        return [.. lengths.Select(n => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray())];
    }

    [Theory]
    [InlineData(2, 16)]        // tiny buckets: several gradients per bucket, one alone
    [InlineData(3, 1 << 20)]   // one bucket for everything
    [InlineData(4, 4)]         // one float per bucket: every gradient alone
    public void Every_rank_ends_with_the_mean_over_ranks(int ranks, int bucketBytes)
    {
        int[] lengths = [3, 1, 7, 2, 2, 9];
        var results = InProcessGroup.Run(ranks, c =>
        {
            var grads = Gradients(c.Rank, lengths);
            var averager = new GradientAverager(c, grads, bucketBytes);
            // Backward finishes the last gradients first; mark a couple, let Finish do the rest.
            averager.MarkReady(5);
            averager.MarkReady(4);
            averager.Finish();
            return grads;
        });
        var inputs = Enumerable.Range(0, ranks).Select(r => Gradients(r, lengths)).ToArray();
        for (int g = 0; g < lengths.Length; g++)
        {
            for (int i = 0; i < lengths[g]; i++)
            {
                double mean = inputs.Average(x => (double)x[g][i]);
                foreach (var r in results) Assert.Equal(mean, r[g][i], 6);
            }
        }
    }

    [Fact]
    public void Buckets_are_filled_from_the_last_gradient_and_reduced_in_order_whatever_order_they_are_marked()
    {
        int[] lengths = [4, 4, 4, 4];
        // 32-byte buckets: {3, 2} and {1, 0}. Rank 1 marks in another order than rank 0; both must agree.
        var results = InProcessGroup.Run(2, c =>
        {
            var grads = Gradients(c.Rank, lengths);
            var averager = new GradientAverager(c, grads, 32);
            Assert.Equal(2, averager.BucketCount);
            int[] marks = c.Rank == 0 ? [3, 2, 1, 0] : [1, 0, 3, 2];
            foreach (int m in marks) averager.MarkReady(m);
            averager.Finish();
            // A second step on the same buffers works the same (Finish reset the marks).
            foreach (int m in marks) averager.MarkReady(m);
            averager.Finish();
            return grads;
        });
        Assert.Equal(results[0].SelectMany(g => g), results[1].SelectMany(g => g));
        var inputs = new[] { Gradients(0, lengths), Gradients(1, lengths) };
        // Averaging twice leaves the mean: (mean + mean) / 2.
        Assert.Equal((inputs[0][2][1] + inputs[1][2][1]) / 2, results[0][2][1], 6);
    }

    [Fact]
    public void One_process_leaves_gradients_untouched_and_refuses_a_double_mark()
    {
        var grads = Gradients(0, [5, 6]);
        var before = grads.Select(g => g.ToArray()).ToArray();
        var averager = new GradientAverager(new LocalCommunicator(), grads);
        averager.MarkReady(1);
        Assert.Throws<InvalidOperationException>(() => averager.MarkReady(1));
        averager.Finish();
        Assert.Equal(before, grads);
    }
}
