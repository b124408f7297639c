using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.IO;
using BertSharp.Tests.Model;
using BertSharp.Tests.Onnx;

namespace BertSharp.Tests.QuestionAnswering;

public class BertForQuestionAnsweringTests
{
    private static BertForQuestionAnswering Tiny(float dropout, int seed = 42)
    {
        var model = BertForQuestionAnswering.CreateRandom(GradCheck.TinyConfig(dropout), seed);
        GradCheck.Randomize(model.Parameters, seed + 1);
        return model;
    }

    [Theory]
    [InlineData(0f, new[] { 1, 3, 2, 2 })]
    [InlineData(0.1f, new[] { 4, 4, 0, 1 })] // dropout masks replayed for each difference
    [InlineData(0f, new[] { 2, 5, 1, 1 })] // an end outside the window is ignored, as HF's ignored_index
    public void WholeModelGradientMatchesFiniteDifferences(float dropout, int[] startEnd)
    {
        var model = Tiny(dropout);
        var input = GradCheck.TinyInput();
        // Embeddings (5), 2 layers × 16, qa_outputs (2): no pooler, which a span head never reads.
        Assert.Equal(39, GradCheck.CheckModel(model, new TaskBatch { Input = input, Labels = startEnd }));
        Assert.Contains(model.Parameters, p => p.Name == "qa_outputs.weight");
    }

    [Fact]
    public void LossIsTheMeanOfStartAndEndCrossEntropyOverTheSequence()
    {
        // [1 row, 3 tokens, 2]: start logits (0, 1, 2), end logits (2, 0, 0).
        float[] output = [0, 2, 1, 0, 2, 0];
        double start = Math.Log(Math.Exp(0) + Math.Exp(1) + Math.Exp(2)) - 1;
        double end = Math.Log(Math.Exp(2) + 2) - 0;
        Assert.Equal((start + end) / 2, BertForQuestionAnswering.SpanLoss(output, 1, 3, [1, 2], default, 1f), 5);
        // An ignored end leaves the start's loss alone (the mean of one term and of none is that term over 2).
        Assert.Equal(start / 2, BertForQuestionAnswering.SpanLoss(output, 1, 3, [1, 7], default, 1f), 5);
        Assert.Contains("start and an end", Assert.Throws<ArgumentException>(() => BertForQuestionAnswering.SpanLoss(output, 1, 3, [1], default, 1f)).Message);
    }

    [Fact]
    public void SavedModelReloadsAsAQuestionAnsweringModelWithTheSameLogits()
    {
        using var dir = new TempDir();
        var model = BertForQuestionAnswering.CreateRandom(TinyModel.Config(), seed: 3);
        GradCheck.Randomize(model.Parameters, 4);
        var vocab = TinyModel.Model().OpenVocab;
        HfDirectory.Save(dir.Path, model.Config, model.ToStateDict(), vocab, doLowerCase: true, 16);
        var loaded = PretrainedModel.Load(dir.Path);
        Assert.Equal(nameof(BertForQuestionAnswering), TaskModels.ArchitectureOf(loaded.Config, loaded.Weights));
        var again = Assert.IsType<BertForQuestionAnswering>(TaskModels.Load(loaded.Config, loaded.Weights));
        var input = new BertInput(1, 6, [2, 5, 7, 3, 8, 3], [0, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1]);
        Assert.Equal(model.Logits(input), again.Logits(input));
        Assert.Equal(12, again.Logits(input).Length);
    }

    [Fact]
    public void ExportedGraphGivesOnnxRuntimeTheManagedStartAndEndLogits()
    {
        using var dir = new TempDir();
        var model = BertForQuestionAnswering.CreateRandom(TinyModel.Config(), seed: 5);
        GradCheck.Randomize(model.Parameters, 6);
        var path = System.IO.Path.Combine(dir.Path, "model.onnx");
        OnnxExporter.Export(model, path);
        using var ort = new Ort(path, optimize: true);
        var input = new BertInput(2, 5, [2, 5, 7, 3, 3, 2, 8, 3, 0, 0], [0, 0, 0, 1, 1, 0, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        var (shape, data) = ort.Run(input, "logits")["logits"];
        Assert.Equal([2L, 5, 2], shape);
        var expected = model.Logits(input);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], data[i], 4);
    }
}
