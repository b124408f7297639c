using BertSharp.Server;
using Microsoft.Extensions.DependencyInjection;

namespace BertSharp.Tests.Server;

/// <summary>
/// When the dynamic batcher waits for company: a wait window far longer than the test (ten minutes) makes every
/// outcome a matter of whether it waited, not of timing.
/// </summary>
public sealed class BatchQueueTests
{
    private static readonly TimeSpan LongWait = TimeSpan.FromMinutes(10);

    // A queue over a stand-in batch function (upper-casing) that records each batch it is given; the gate owns it.
    private static (BatchQueue<string, string> Queue, List<string[]> Batches) Queue(ModelGate gate)
    {
        var batches = new List<string[]>();
        var metrics = new ServerMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider()
            .GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var queue = new BatchQueue<string, string>(items =>
        {
            lock (batches) batches.Add([.. items]);
            return [.. items.Select(i => i.ToUpperInvariant())];
        }, gate, new ServerOptions { MaxBatchSize = 3, MaxBatchWait = LongWait }, metrics);
        return (queue, batches);
    }

    [Fact]
    public async Task ALoneRequestRunsAtOnceInsteadOfWaitingForCompany()
    {
        await using var gate = new ModelGate();
        var (queue, batches) = Queue(gate);
        for (int i = 0; i < 3; i++)
        {
            // Each answered long before the ten-minute window could close.
            var result = await queue.RunAsync([$"t{i}"]).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal([$"T{i}"], result);
        }
        Assert.Equal([["t0"], ["t1"], ["t2"]], batches);
    }

    [Fact]
    public async Task OnceRequestsOverlapTheBatchWaitsToFill()
    {
        var (gate, hold, held) = HeldGate.Create();
        await using var disposeGate = gate;
        var (queue, batches) = Queue(gate);
        var blocker = queue.RunAsync(["first"]);
        await held;
        var a = queue.RunAsync(["a"]); // arrives while the first batch runs: requests now overlap
        hold.SetResult();
        Assert.Equal(["FIRST"], await blocker.WaitAsync(TimeSpan.FromSeconds(60)));

        // "a" waits for company rather than running alone; the two that come later fill its batch.
        await Task.Delay(200);
        Assert.False(a.IsCompleted);
        var b = queue.RunAsync(["b"]);
        var c = queue.RunAsync(["c"]);
        Assert.Equal(["A"], await a.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(["B"], await b);
        Assert.Equal(["C"], await c);
        Assert.Equal([["first"], ["a", "b", "c"]], batches);
    }
}
