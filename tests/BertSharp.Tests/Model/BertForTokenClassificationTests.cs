using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class BertForTokenClassificationTests
{
    private const int Ignore = BertPreTrainedModel.IgnoreIndex;

    // Tags per token of GradCheck.TinyInput (2 × 5): [CLS]/[SEP], later pieces and padding ignored.
    private static readonly int[] TokenLabels = [Ignore, 2, Ignore, 0, Ignore, Ignore, 1, Ignore, Ignore, Ignore];

    private static BertForTokenClassification Tiny(float dropout, int seed = 42)
    {
        var model = BertForTokenClassification.CreateRandom(GradCheck.TinyConfig(dropout, labels: 3), seed);
        GradCheck.Randomize(model.Parameters, seed + 1);
        return model;
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.1f)] // every dropout mask, the head's included, replayed for each difference
    public void WholeModelGradientMatchesFiniteDifferences(float dropout)
    {
        var model = Tiny(dropout);
        var input = GradCheck.TinyInput();
        var batch = new TaskBatch { Input = input, Labels = TokenLabels };
        GradCheck.CheckModel(model, batch, skipPadRow: false);
        Assert.Contains(model.Parameters, p => p.Name == "classifier.weight");
        Assert.DoesNotContain(model.Parameters, p => p.Name.StartsWith("pooler.", StringComparison.Ordinal));
    }

    [Fact]
    public void LossIsTheMeanCrossEntropyOverTheLabelledTokensOfTheLogits()
    {
        // Independent of the head's loss code: log-softmax of the evaluation logits, by hand, in double.
        var model = Tiny(0f);
        var input = GradCheck.TinyInput();
        var logits = model.Logits(input);
        double sum = 0;
        int n = 0;
        for (int i = 0; i < TokenLabels.Length; i++)
        {
            if (TokenLabels[i] == Ignore) continue;
            var row = logits.AsSpan(i * 3, 3).ToArray().Select(v => (double)v).ToArray();
            double max = row.Max();
            sum += max + Math.Log(row.Sum(v => Math.Exp(v - max))) - row[TokenLabels[i]];
            n++;
        }
        Assert.Equal(sum / n, model.Loss(new TaskBatch { Input = input, Labels = TokenLabels }, training: false), 1e-5);
        Assert.Equal([2, 5, 3], model.Forward(input).Logits.Shape);
    }

    [Fact]
    public void SavesAndLoadsUnderHuggingFaceNames()
    {
        var model = Tiny(0f);
        var state = model.ToStateDict();
        Assert.Contains("classifier.weight", state.Keys);
        Assert.Contains(state.Keys, k => k.StartsWith("bert.", StringComparison.Ordinal) || k.StartsWith("embeddings.", StringComparison.Ordinal));
        Assert.Equal(nameof(BertForTokenClassification), TaskModels.ArchitectureOf(model.Config, state));
        var loaded = Assert.IsType<BertForTokenClassification>(TaskModels.Load(model.Config, state));
        var input = GradCheck.TinyInput();
        Assert.Equal(model.Logits(input), loaded.Logits(input));
        TaskModels.Validate(model.Config, state);
    }

    [Fact]
    public void ExportedGraphGivesTheManagedLogitsInOnnxRuntime()
    {
        var model = Tiny(0f);
        string dir = Directory.CreateTempSubdirectory("bertsharp-ner-onnx-").FullName;
        try
        {
            string path = Path.Combine(dir, "model.onnx");
            OnnxExporter.Export(model, path);
            using var ort = new OnnxRuntimeModel(path, threads: 1);
            Assert.Equal(3, ort.OutputWidth);
            var input = GradCheck.TinyInput();
            var expected = model.Logits(input);
            var actual = ort.Run(input);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4f);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void MislabelledBatchesAreRefused()
    {
        var model = Tiny(0f);
        var input = GradCheck.TinyInput();
        Assert.Throws<ArgumentException>(() => model.Loss(new TaskBatch { Input = input, Labels = [1, 2] }, training: false));
        Assert.Throws<ArgumentException>(() => model.Loss(new TaskBatch { Input = input, Labels = [.. TokenLabels.Select(l => l == 2 ? 3 : l)] }, training: false));
    }
}
