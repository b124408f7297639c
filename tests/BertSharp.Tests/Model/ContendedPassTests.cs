using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Tensors;

namespace BertSharp.Tests.Model;

// Sets the worker pool's contention and the thread count, process-wide: runs alone.
[Collection(GemmSettingsCollection.Name)]
public class ContendedPassTests
{
    // Five sequences of six tokens, right-padded to lengths 6, 3, 5, 1 and 4, the last one also left-padded.
    private static BertInput Input() => new(5, 6,
        [2, 7, 7, 11, 9, 3, 2, 19, 3, 0, 0, 0, 2, 5, 6, 8, 3, 0, 2, 0, 0, 0, 0, 0, 0, 2, 13, 17, 3, 0],
        [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0]);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AContendedPassSplitBySequencesMatchesTheFp64Reference(bool pooler)
    {
        var config = GradCheck.TinyConfig(layers: 2);
        var source = BertModel.CreateRandom(config, seed: 5, addPoolingLayer: pooler);
        GradCheck.Randomize(source.Parameters, 6);
        var state = source.ToStateDict();
        // Loaded afresh, so its weights are packed and it takes inference's own paths.
        var model = new BertModel(config, state);
        var input = Input();
        var reference = ReferenceBert.Forward(config, state, input);
        int saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 2;
            WorkerPool.ContendedOverride = false;
            Assert.Equal(1, model.SequenceChunks(5));
            WorkerPool.ContendedOverride = true;
            Assert.Equal(2, model.SequenceChunks(5));
            Assert.Equal(1, model.SequenceChunks(1));
            // A part for every thread, or no split: fewer parts would leave threads the per-layer loops use idle.
            Gemm.MaxThreads = 4;
            Assert.Equal(4, model.SequenceChunks(5));
            Assert.Equal(1, model.SequenceChunks(3));
            Gemm.MaxThreads = 2;
            var output = model.Forward(input);
            Assert.Equal([5, 6, 8], output.LastHiddenState.Shape);
            for (int b = 0; b < 5; b++)
            {
                for (int t = 0; t < 6; t++)
                {
                    if (input.AttentionMask[b * 6 + t] == 0) continue;
                    for (int c = 0; c < 8; c++)
                        Assert.Equal(reference.LastHidden[b, t, c], output.LastHiddenState.Data[(b * 6 + t) * 8 + c], 1e-5);
                }
                if (!pooler) continue;
                for (int c = 0; c < 8; c++)
                    Assert.Equal(reference.Pooled![b, c], output.PoolerOutput!.Data[b * 8 + c], 1e-5);
            }
            Assert.Equal(pooler, output.PoolerOutput is not null);
        }
        finally
        {
            WorkerPool.ContendedOverride = null;
            Gemm.MaxThreads = saved;
        }
    }

    [Fact]
    public void AContendedClsOnlyPassGivesTheLogitsOfTheFullQuietPass()
    {
        // A classifier computes only the last layer's [CLS] rows; split, each part copies its own into place.
        var config = GradCheck.TinyConfig(layers: 2, labels: 3);
        var source = BertForSequenceClassification.CreateRandom(config, new SequenceClassificationOptions { Seed = 3 });
        GradCheck.Randomize(source.Bert.Parameters, 4);
        var model = new BertForSequenceClassification(config, source.ToStateDict());
        var input = Input();
        int saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 2;
            WorkerPool.ContendedOverride = false;
            model.ClsOnlyLastLayer = false;
            var full = model.Logits(input);
            WorkerPool.ContendedOverride = true;
            model.ClsOnlyLastLayer = true;
            var split = model.Logits(input);
            Assert.Equal(15, split.Length);
            for (int i = 0; i < full.Length; i++) Assert.Equal(full[i], split[i], 1e-5);
        }
        finally
        {
            WorkerPool.ContendedOverride = null;
            Gemm.MaxThreads = saved;
        }
    }
}
