using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.Parity;
using BertSharp.Tests.Tensors;

namespace BertSharp.Tests.Model;

/// <summary>
/// A run's numbers must not depend on how many threads did the work: the pool drops to one thread
/// whenever the CPU is contended, mid-run, so a split that changed the summation order made a
/// seeded training run differ from itself (bias and LayerNorm gradients, summed over row blocks).
/// </summary>
[Collection(GemmSettingsCollection.Name)]
public class ThreadInvarianceTests
{
    [Fact]
    public void ColumnSumsAreTheSameBitsOnOneThreadAndOnAll()
    {
        const int rows = 1000, cols = 384;   // 11 row blocks of partial sums
        var rng = new Random(5);
        var dy = new float[rows * cols];
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(rng.NextDouble() * 2 - 1);
        var onOne = OnThreads(1, () => Sum(dy, rows, cols));
        var onAll = OnThreads(Math.Max(2, Environment.ProcessorCount), () => Sum(dy, rows, cols));
        Assert.Equal(onOne, onAll);
        for (int c = 0; c < cols; c++)
        {
            double exact = 0;
            for (int r = 0; r < rows; r++) exact += dy[r * cols + c];
            Assert.True(Math.Abs(onOne[c] - exact) <= 1e-4, $"column {c}: {onOne[c]} against {exact}");
        }
    }

    [SkippableTheory]
    [InlineData(ComputeProvider.Managed)]
    [InlineData(ComputeProvider.OneDnnBf16)]
    public void ATrainingStepGivesTheSameGradientsOnOneThreadAndOnAll(ComputeProvider provider)
    {
        if (provider == ComputeProvider.OneDnnBf16) OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load("minilm-l6");
        var vocab = PolaritySentences.Vocab("minilm-l6");
        var ids = PolaritySentences.Texts(16).Select(s => PolaritySentences.Ids(vocab, s, 64)).ToArray();
        var input = PolaritySentences.Pad(ids, 64);
        int[] labels = [.. Enumerable.Range(0, ids.Length).Select(i => i % 2)];
        (float Loss, (string Name, float[] Grad)[] Grads) Step()
        {
            // Dropout on (the checkpoint's 0.1): its masks must not follow the split either.
            var model = new BertForSequenceClassification(pretrained.Config, pretrained.Weights, new SequenceClassificationOptions { Seed = 11 })
            {
                Provider = provider,
            };
            float loss = model.TrainStep(input, labels, []);
            return (loss, [.. model.Parameters.Select(p => (p.Name, p.Grad.ToArray()))]);
        }
        var one = OnThreads(1, Step);
        var all = OnThreads(Math.Max(2, Environment.ProcessorCount), Step);
        Assert.Equal(one.Loss, all.Loss);
        for (int i = 0; i < one.Grads.Length; i++)
            Assert.True(one.Grads[i].Grad.AsSpan().SequenceEqual(all.Grads[i].Grad), $"{one.Grads[i].Name}: gradients differ between one thread and all");
    }

    [SkippableTheory]
    [InlineData(ComputeProvider.Managed)]
    [InlineData(ComputeProvider.OneDnnBf16)]
    public void APredictionIsTheSameBitsOnOneThreadAndOnAll(ComputeProvider provider)
    {
        // A server answers on one thread when its CPU is busy: the same text must get the same scores.
        var (model, sentences) = Encoder(provider);
        // 1 × 64: bf16 splits a lone sequence's attention heads into pieces, however many threads run them.
        foreach (var (batch, tokens) in new[] { (1, 16), (1, 64), (8, 64), (32, 128) })
        {
            var input = sentences(batch, tokens);
            var one = OnThreads(1, () => model.Forward(input).LastHiddenState.Data.ToArray());
            var all = OnThreads(Math.Max(2, Environment.ProcessorCount), () => model.Forward(input).LastHiddenState.Data.ToArray());
            Assert.True(one.AsSpan().SequenceEqual(all), $"{batch} × {tokens}: hidden states differ between one thread and all");
        }
    }

    [SkippableTheory]
    [InlineData(ComputeProvider.Managed)]
    [InlineData(ComputeProvider.OneDnnBf16)]
    public void APredictionIsTheSameBitsWhenABusyCpuSplitsItsBatch(ComputeProvider provider)
    {
        // Beside busy processes a batch runs as parts of whole sequences, one thread each (BertModel.SequenceChunks):
        // each part's rows must come out as they do in the whole batch, whatever path the part's shape takes.
        var (model, sentences) = Encoder(provider);
        int saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = 2;
            // 3 × 40: parts of one and two sequences; 8 × 32: without AMX, bf16's whole-layer blocks, which parts of four are too few for.
            foreach (var (batch, tokens) in new[] { (8, 16), (3, 40), (8, 32), (5, 128) })
            {
                var input = sentences(batch, tokens);
                WorkerPool.ContendedOverride = false;
                var whole = model.Forward(input).LastHiddenState.Data.ToArray();
                WorkerPool.ContendedOverride = true;
                Assert.Equal(2, model.SequenceChunks(batch));
                var split = model.Forward(input).LastHiddenState.Data.ToArray();
                Assert.True(whole.AsSpan().SequenceEqual(split), $"{batch} × {tokens}: hidden states differ between the whole batch and its parts");
            }
        }
        finally
        {
            WorkerPool.ContendedOverride = null;
            Gemm.MaxThreads = saved;
        }
    }

    // minilm-l6's encoder on the provider (the test skips where bf16 does not run), and a batch of the first polarity
    // sentences padded or cut to a length.
    private static (BertModel Model, Func<int, int, BertInput> Sentences) Encoder(ComputeProvider provider)
    {
        if (provider == ComputeProvider.OneDnnBf16) OneDnnProviderTests.Bf16Provider();
        var pretrained = PretrainedModel.Load("minilm-l6");
        var vocab = PolaritySentences.Vocab("minilm-l6");
        return (new BertModel(pretrained.Config, pretrained.Weights) { Provider = provider },
            (batch, tokens) => PolaritySentences.Pad([.. PolaritySentences.Texts(batch).Select(s => PolaritySentences.Ids(vocab, s, tokens))], tokens));
    }

    private static float[] Sum(float[] dy, int rows, int cols)
    {
        var dBias = new float[cols];
        Kernels.BiasBackward(dy, dBias, rows, cols);
        return dBias;
    }

    private static T OnThreads<T>(int threads, Func<T> run)
    {
        var saved = Gemm.MaxThreads;
        try
        {
            Gemm.MaxThreads = threads;
            return run();
        }
        finally
        {
            Gemm.MaxThreads = saved;
        }
    }
}
