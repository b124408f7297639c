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
}
