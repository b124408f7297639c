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
        Assert.Equal(Math.Min(2, Gemm.MaxThreads), WorkerPool.Threads(200, 100, contended: false));
        Assert.Equal(Gemm.MaxThreads, WorkerPool.Threads(long.MaxValue, 1, contended: false));
        // On a contended CPU a thread's share must be 512 grains.
        Assert.Equal(1, WorkerPool.Threads(200, 100, contended: true));
        Assert.Equal(1, WorkerPool.Threads(1023 * 100, 100, contended: true));
        Assert.Equal(Math.Min(2, Gemm.MaxThreads), WorkerPool.Threads(1024 * 100, 100, contended: true));
    }

    [Fact]
    public void ContentionTakesTwoLooksInARowThatLostTheCpuOrOneWhenSeenLately()
    {
        long close = System.Diagnostics.Stopwatch.Frequency / 200, apart = System.Diagnostics.Stopwatch.Frequency;
        int strikes = 0;
        // 5 ms apart, 4 ms of them waiting (a busy thread's time slice), then the same again: contention.
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 4_000_000));
        Assert.True(WorkerPool.SeesContention(ref strikes, close, 4_000_000));
        Assert.True(WorkerPool.SeesContention(ref strikes, close, 4_000_000));
        // A look that ran undisturbed starts the count again.
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 100_000));
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 4_000_000));
        // Waits under 2 ms (the process's own runtime threads, a kernel thread passing by) are not a lost
        // slice, however often they come, even while contention was seen lately.
        strikes = 1;
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 1_500_000));
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 1_500_000, seenLately: true));
        // Waits between looks a second apart fell outside tensor work (a server between requests).
        strikes = 1;
        Assert.False(WorkerPool.SeesContention(ref strikes, apart, 5_000_000));
        Assert.Equal(0, strikes);
        // Contention seen lately: one lost look is enough, an undisturbed one still is not.
        Assert.True(WorkerPool.SeesContention(ref strikes, close, 4_000_000, seenLately: true));
        Assert.False(WorkerPool.SeesContention(ref strikes, close, 100_000, seenLately: true));
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

/// <summary>Runs alone: it loads every core on purpose, and reads the pool's process-wide state.</summary>
[Collection(GemmSettingsCollection.Name)]
public class WorkerPoolContentionTests
{
    [Fact]
    public void ABusyCpuKeepsSmallLoopsOnTheCallerAndAQuietOneGetsThemBack()
    {
        // The pool has no helper to contend for on one core.
        if (Environment.ProcessorCount < 2) return;
        long grain = Gemm.ParallelGrainFlops, small = 4 * grain;
        Assert.Equal(Math.Min(2, Gemm.MaxThreads), WorkerPool.Threads(small, grain, contended: false));
        using (var load = new CancellationTokenSource())
        {
            // Two busy threads per core, as other processes on a shared node: the pool must notice.
            var spinners = Enumerable.Range(0, 2 * Environment.ProcessorCount).Select(_ => new Thread(() =>
            {
                double x = 1;
                while (!load.IsCancellationRequested) x = x * 1.000001 + 1e-9;
                GC.KeepAlive(x);
            })).ToArray();
            foreach (var t in spinners) t.Start();
            bool contended = RunLoopsUntil(() => WorkerPool.Contended);
            load.Cancel();
            foreach (var t in spinners) t.Join();
            Assert.True(contended, "two busy threads per core for 20 s never made the pool count as contended");
        }
        Assert.True(RunLoopsUntil(() => !WorkerPool.Contended), "the pool still counted as contended 20 s after the load stopped");
        Assert.Equal(Math.Min(2, Gemm.MaxThreads), WorkerPool.Threads(small, grain));
    }

    [Fact]
    public void TheThreadsSchedStatCountsItsOwnRunningTime()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(ThreadSchedStat.TryRead(out long running0, out long waiting0));
        var wall = System.Diagnostics.Stopwatch.StartNew();
        while (wall.ElapsedMilliseconds < 100) Thread.SpinWait(100);
        Assert.True(ThreadSchedStat.TryRead(out long running1, out long waiting1));
        long elapsed = (long)(wall.Elapsed.TotalMilliseconds * 1e6);
        // Spinning, the thread either ran or waited to run for the whole 100 ms but for a hypervisor's
        // steal (which neither field counts: up to half on a crowded host); other tests may hold a core
        // now and then, not most of the time. Swapped or misread fields (microseconds, say) would not add up.
        Assert.InRange(running1 - running0 + waiting1 - waiting0, elapsed / 2, elapsed + 5_000_000);
        Assert.InRange(running1 - running0, elapsed / 5, elapsed + 5_000_000);
    }

    // Loops of a short forward pass (16 tasks of ~50 µs on every thread) until the condition holds or 20 s pass.
    private static bool RunLoopsUntil(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(20)) return false;
            WorkerPool.For(16, Environment.ProcessorCount, _ => Thread.SpinWait(5000));
        }
        return true;
    }
}
