using BertSharp.Tensors;

namespace BertSharp.Tests.Tensors;

public class WorkerPoolTests
{
    [Fact]
    public void EveryIndexRunsOnceAndNestedLoopsRunSerially()
    {
        var hits = new int[1000];
        var nested = new int[1000 * 3];
        WorkerPool.For(1000, Environment.ProcessorCount, i =>
        {
            Interlocked.Increment(ref hits[i]);
            WorkerPool.For(3, Environment.ProcessorCount, j => Interlocked.Increment(ref nested[i * 3 + j]));
        });
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.All(nested, h => Assert.Equal(1, h));
    }

    [Fact]
    public void AnExceptionInATaskReachesTheCallerAndThePoolStaysUsable()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            WorkerPool.For(64, Environment.ProcessorCount, i =>
            {
                if (i == 40) throw new InvalidOperationException("task 40");
            }));
        Assert.Equal("task 40", e.Message);
        int count = 0;
        WorkerPool.For(64, Environment.ProcessorCount, _ => Interlocked.Increment(ref count));
        Assert.Equal(64, count);
    }

    [Fact]
    public void TheCostModelKeepsSmallWorkOnTheCallerAndNeverExceedsMaxThreads()
    {
        Assert.Equal(1, WorkerPool.Threads(0, 100));
        Assert.Equal(1, WorkerPool.Threads(199, 100));
        Assert.Equal(Math.Min(2, Gemm.MaxThreads), WorkerPool.Threads(200, 100));
        Assert.Equal(Gemm.MaxThreads, WorkerPool.Threads(long.MaxValue, 1));
    }

    [Fact]
    public void BackToBackLoopsFromManyCallersEachRunEveryIndexOnce()
    {
        // Loops opened while helpers spin, sleep or are still finishing the previous one, and from
        // several threads at once (all but one of which run serially): no index lost or repeated.
        var totals = new long[4];
        Parallel.For(0, totals.Length, c =>
        {
            for (int loop = 0; loop < 2000; loop++)
            {
                int count = 1 + loop % 7;
                var hits = new int[count];
                WorkerPool.For(count, Environment.ProcessorCount, i => Interlocked.Increment(ref hits[i]));
                Assert.All(hits, h => Assert.Equal(1, h));
                totals[c] += count;
                if (loop % 500 == 0) Thread.Sleep(2);
            }
        });
        Assert.All(totals, t => Assert.Equal(Enumerable.Range(0, 2000).Sum(l => 1 + l % 7), t));
    }
}
