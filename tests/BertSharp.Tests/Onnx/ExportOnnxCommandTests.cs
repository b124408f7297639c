using BertSharp.Inference;
using BertSharp.IO;

namespace BertSharp.Tests.Onnx;

/// <summary><c>bertsharp export-onnx</c> run as a child process, as a user would.</summary>
public class ExportOnnxCommandTests(ExportedModels models) : IClassFixture<ExportedModels>
{
    [Fact]
    public void ExportsAFineTunedDirectoryToModelOnnxBesideItsWeights()
    {
        var dir = Path.Combine(models.Directory, "fine-tuned");
        new PretrainedModel
        {
            Config = models.ClassifierConfig,
            Weights = models.ClassifierWeights,
            Source = "test",
            OpenVocab = () => BuiltInModels.OpenVocab("minilm-l6"),
        }.Save(dir);

        var result = CliRunner.Run("export-onnx", "--model", dir);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("logits", result.Stdout);
        using var classifier = new OnnxRuntimeModel(dir, threads: 1);
        Assert.Equal(Path.Combine(dir, OnnxRuntimeModel.FileName), classifier.ModelPath);
        Assert.Equal(ExportedModels.Labels, classifier.OutputWidth);

        // The directory's model.onnx computes what the in-memory export computes.
        var input = RealSentences.Pad(RealSentences.Ids(0, 3));
        using var reference = new OnnxRuntimeModel(models.Classifier(), threads: 1);
        Assert.Equal(reference.Run(input), classifier.Run(input));
    }

    [Fact]
    public void ExportsABuiltInEncoderInt8AtAnotherOpset()
    {
        var path = Path.Combine(models.Directory, "cli-int8.onnx");
        var result = CliRunner.Run("export-onnx", "--model", "minilm-l6", "--output", path, "--opset", "15", "--quantize", "int8");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal(15, proto.OpsetImport.Single().Version);
        Assert.Contains(proto.Graph.Node, n => n.OpType == "MatMulInteger");
        Assert.Equal(["last_hidden_state", "pooler_output"], proto.Graph.Output.Select(o => o.Name));
    }

    [Theory]
    [InlineData("--quantize", "int4", "int4")]
    [InlineData("--opset", "13", "--opset 13")]
    public void BadOptionIsOneLineError(string option, string value, string expected)
    {
        var result = CliRunner.Run("export-onnx", "--model", "minilm-l6", "--output", Path.Combine(models.Directory, "bad.onnx"), option, value);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
        Assert.False(File.Exists(Path.Combine(models.Directory, "bad.onnx")));
    }

    [Fact]
    public void NonDirectoryModelNeedsAnOutput()
    {
        var result = CliRunner.Run("export-onnx", "--model", "minilm-l6");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--output", result.Stderr);
    }
}
