using BertSharp.Inference;
using BertSharp.IO;
using Xunit.Abstractions;

namespace BertSharp.Tests.Onnx;

/// <summary>
/// The truth for our exported graph is ONNX Runtime running the original embedded model.onnx
/// (PyTorch's export of all-MiniLM-L6-v2) on the same real sentences.
/// </summary>
public class OnnxExportTests(ExportedModels models, ITestOutputHelper log) : IClassFixture<ExportedModels>
{
    [Theory]
    [InlineData(17, true)]
    [InlineData(17, false)]
    [InlineData(14, true)]
    [InlineData(14, false)]
    [InlineData(21, true)]
    public void EncoderMatchesTheOriginalModelInOnnxRuntime(int opset, bool optimize)
    {
        var input = RealSentences.WithPairTypes(RealSentences.Pad(RealSentences.Ids(0, 8, maxLength: 48)));
        using var original = new OnnxRuntimeEncoder("minilm-l6", threads: 2);
        var truth = original.RunAll(input);
        using var ours = new Ort(models.Encoder(opset), optimize);
        var output = ours.Run(input, "last_hidden_state", "pooler_output");

        Assert.Equal([input.BatchSize, input.SequenceLength, 384], output["last_hidden_state"].Shape);
        Assert.Equal([input.BatchSize, 384], output["pooler_output"].Shape);
        double hidden = MaxAbsDiff(truth.LastHiddenState.Data, output["last_hidden_state"].Data);
        double pooled = MaxAbsDiff(truth.PoolerOutput!.Data, output["pooler_output"].Data);
        log.WriteLine($"opset {opset}, optimise {optimize}: last_hidden_state {hidden:E2}, pooler_output {pooled:E2}");
        Assert.True(hidden <= 1e-4, $"last_hidden_state differs by {hidden}");
        Assert.True(pooled <= 1e-4, $"pooler_output differs by {pooled}");
    }

    [Fact]
    public void ExportedClassifierMatchesTheManagedClassifier()
    {
        // The same weights in our managed BertForSequenceClassification and in the exported graph under
        // ONNX Runtime with every graph optimisation on: real sentences, padded, with pair token types.
        var input = RealSentences.WithPairTypes(RealSentences.Pad(RealSentences.Ids(16, 8)));
        var managed = new global::BertSharp.Model.BertForSequenceClassification(models.ClassifierConfig, models.ClassifierWeights);
        var expected = managed.Logits(input);
        using var exported = new OnnxRuntimeModel(models.Classifier(), threads: 2);
        var logits = exported.Run(input);
        double diff = MaxAbsDiff(expected, logits);
        log.WriteLine($"managed vs exported logits differ by {diff:E2}");
        Assert.True(diff <= 1e-4, $"logits differ by {diff}");
    }

    [Fact]
    public void ClassifierLogitsArePoolerTimesTheHeadAddedBias()
    {
        var input = RealSentences.Pad(RealSentences.Ids(8, 8));
        using var original = new OnnxRuntimeEncoder("minilm-l6", threads: 2);
        var pooled = original.RunAll(input).PoolerOutput!.Data;
        using var classifier = new OnnxRuntimeModel(models.Classifier(), threads: 2);
        Assert.Equal(ExportedModels.Labels, classifier.OutputWidth);
        var logits = classifier.Run(input);
        Assert.Equal(input.BatchSize * ExportedModels.Labels, logits.Length);

        int h = 384;
        var expected = new float[logits.Length];
        for (int b = 0; b < input.BatchSize; b++)
            for (int l = 0; l < ExportedModels.Labels; l++)
            {
                double acc = models.ClassifierBias.Data[l];
                for (int k = 0; k < h; k++) acc += (double)pooled[b * h + k] * models.ClassifierWeight.Data[l * h + k];
                expected[b * ExportedModels.Labels + l] = (float)acc;
            }
        double diff = MaxAbsDiff(expected, logits);
        log.WriteLine($"logits differ by {diff:E2}");
        Assert.True(diff <= 1e-4, $"logits differ by {diff}");
    }

    [Fact]
    public void OneSessionTakesAnyBatchAndSequenceLength()
    {
        using var original = new OnnxRuntimeEncoder("minilm-l6", threads: 2);
        using var ours = new Ort(models.Encoder(), optimize: true);
        foreach (var (batch, length) in new[] { (1, 5), (7, 128), (7, 5), (1, 128) })
        {
            var input = RealSentences.Pad(RealSentences.Ids(16, batch), length);
            var output = ours.Run(input, "last_hidden_state");
            Assert.Equal([batch, length, 384], output["last_hidden_state"].Shape);
            double diff = MaxAbsDiff(original.Run(input).Data, output["last_hidden_state"].Data);
            Assert.True(diff <= 1e-4, $"batch {batch}, sequence {length}: differs by {diff}");
        }
    }

    [Fact]
    public void ImporterReadsTheExportBackBitExactly()
    {
        var (config, weights) = OnnxBertImporter.Import(models.Encoder());
        Assert.Equal(models.Model.Config, config with { Architectures = models.Model.Config.Architectures });
        AssertSameWeights(models.Model.Weights, weights);

        var (_, classifier) = OnnxBertImporter.Import(models.Classifier());
        AssertSameWeights(models.ClassifierWeights, classifier);

        var (lowOpsetConfig, lowOpset) = OnnxBertImporter.Import(models.Encoder(14));
        Assert.Equal(models.Model.Config, lowOpsetConfig with { Architectures = models.Model.Config.Architectures });
        AssertSameWeights(models.Model.Weights, lowOpset);
    }

    [Fact]
    public void GraphDeclaresDynamicInt64InputsAndNamedOutputs()
    {
        using var ours = new Ort(models.Classifier(), optimize: false);
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(models.Classifier()));
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], proto.Graph.Input.Select(i => i.Name));
        foreach (var i in proto.Graph.Input)
        {
            Assert.Equal((int)global::Onnx.TensorProto.Types.DataType.Int64, i.Type.TensorType.ElemType);
            Assert.Equal(["batch", "sequence"], i.Type.TensorType.Shape.Dim.Select(d => d.DimParam));
        }
        Assert.Equal(["logits"], proto.Graph.Output.Select(o => o.Name));
        Assert.Equal(17, proto.OpsetImport.Single().Version);
        Assert.Contains(proto.Graph.Node, n => n.OpType == "Erf");
        Assert.Contains(proto.Graph.Node, n => n.OpType == "LayerNormalization");
        Assert.Equal([-1L, ExportedModels.Labels], ours.Outputs["logits"].Dimensions.Select(d => (long)d));
    }

    [Fact]
    public void ClassifierWithoutPoolerIsANamedError()
    {
        var weights = new StateDict { Source = "no-pooler" };
        foreach (var (k, v) in models.ClassifierWeights) if (!k.StartsWith("bert.pooler.", StringComparison.Ordinal)) weights[k] = v;
        var e = Assert.Throws<InvalidDataException>(() => OnnxExporter.Export(models.ClassifierConfig, weights, Path.Combine(models.Directory, "x.onnx")));
        Assert.Contains("no-pooler", e.Message);
        Assert.Contains("pooler.dense.weight", e.Message);
        Assert.False(File.Exists(Path.Combine(models.Directory, "x.onnx")));
    }

    [Fact]
    public void UnsupportedOpsetIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => OnnxExporter.Export(models.Model, Path.Combine(models.Directory, "y.onnx"), opset: 13));
        Assert.Contains("opset 13", e.Message);
    }

    [Fact]
    public void EncoderOnlyFileIsRefusedAsAClassifier()
    {
        var e = Assert.Throws<InvalidDataException>(() => new OnnxRuntimeModel(models.Encoder(), threads: 1));
        Assert.Contains("'logits'", e.Message);
        Assert.Contains(models.Encoder(), e.Message);
    }

    internal static void AssertSameWeights(StateDict expected, StateDict actual)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in expected)
        {
            Assert.Equal(t.Shape, actual[name].Shape);
            Assert.True(t.Data.AsSpan().SequenceEqual(actual[name].Data), $"{name} differs");
        }
    }

    internal static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
