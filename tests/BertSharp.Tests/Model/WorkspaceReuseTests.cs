using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>A warm step reuses its activation buffers: what it allocates is bookkeeping, not activations.</summary>
public class WorkspaceReuseTests
{
    private static BertInput Batch(int b, int t, int seed)
    {
        var rng = new Random(seed);
        return new BertInput(b, t, Enumerable.Range(0, b * t).Select(_ => rng.Next(1, 30)).ToArray(), new int[b * t], Enumerable.Repeat(1, b * t).ToArray());
    }

    [Fact]
    public void WarmTrainStepAndInferenceAllocateNoActivations()
    {
        var config = GradCheck.TinyConfig(0.1f) with { HiddenSize = 64, NumAttentionHeads = 4, IntermediateSize = 256, MaxPositionEmbeddings = 64 };
        var model = BertForSequenceClassification.CreateRandom(config);
        int[] labels = [0, 1, 0, 1];
        var longest = Batch(4, 32, 1);
        long cold = Allocated(() => model.TrainStep(longest, labels, []));
        model.Logits(longest);
        // Shorter batches (dynamic padding) fit in the buffers the longest one made.
        long warmTrain = Allocated(() => model.TrainStep(Batch(4, 20, 2), labels, []));
        long warmInfer = Allocated(() => model.Logits(Batch(4, 20, 3)));
        // One layer's activations alone are ~1 MB here; Parallel.For's delegates and the returned
        // logits are a few kilobytes.
        Assert.True(cold > 1_000_000, $"cold step allocated only {cold} bytes");
        Assert.True(warmTrain < 64 * 1024, $"warm train step allocated {warmTrain} bytes");
        Assert.True(warmInfer < 64 * 1024, $"warm inference allocated {warmInfer} bytes");
    }

    // Counted on the calling thread, where every workspace buffer is allocated, so that tests running
    // in parallel do not disturb the figure.
    private static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
