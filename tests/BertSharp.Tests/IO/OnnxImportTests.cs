using BertSharp.IO;
using Google.Protobuf;
using Onnx;

namespace BertSharp.Tests.IO;

public class OnnxImportTests
{
    // Hugging Face's config.json for sentence-transformers/all-MiniLM-L6-v2 and Snowflake/snowflake-arctic-embed-xs.
    [Theory]
    [InlineData("minilm-l6", true)]
    [InlineData("arctic-xs", false)]
    public void BuiltInConfigMatchesThePublishedOne(string name, bool hasPooler)
    {
        var model = PretrainedModel.Load(name);
        var c = model.Config;
        Assert.Equal((30522, 384, 6, 12, 1536, 512, 2, 1e-12f), (c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads,
            c.IntermediateSize, c.MaxPositionEmbeddings, c.TypeVocabSize, c.LayerNormEps));
        Assert.Equal("gelu", c.HiddenAct);
        Assert.Equal(hasPooler, model.Weights.ContainsKey("bert.pooler.dense.weight"));
        // The figure for MiniLM-L6 embeddings + encoder.
        Assert.Equal(22_565_376, ModelSize.FromWeights(model.Weights).EmbeddingsAndEncoder);
        Assert.Equal([384, 1536], model.Weights["bert.encoder.layer.5.output.dense.weight"].Shape);
        Assert.Equal([1536, 384], model.Weights["bert.encoder.layer.5.intermediate.dense.weight"].Shape);
    }

    [Fact]
    public void OnnxFileOnDiskImportsLikeTheEmbeddedOne()
    {
        using var dir = new TempDir();
        var path = dir.File("model.onnx");
        using (var onnx = BuiltInModels.OpenOnnx("arctic-xs"))
        using (var file = File.Create(path))
            onnx.CopyTo(file);
        using (var vocab = BuiltInModels.OpenVocab("arctic-xs"))
        using (var file = File.Create(dir.File("vocab.txt")))
            vocab.CopyTo(file);
        var fromFile = PretrainedModel.Load(path);
        var builtIn = PretrainedModel.Load("arctic-xs");
        Assert.Equal(builtIn.Config, fromFile.Config with { Architectures = builtIn.Config.Architectures });
        Assert.Equal(builtIn.Weights.Keys.Order(), fromFile.Weights.Keys.Order());
        Assert.Equal(builtIn.Weights["bert.encoder.layer.2.attention.self.key.weight"].Data, fromFile.Weights["bert.encoder.layer.2.attention.self.key.weight"].Data);
        Assert.Equal(dir.File("vocab.txt"), fromFile.VocabPath);
    }

    [Fact]
    public void ExternalDataIsReadFromBesideTheModel()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("weights.bin"), [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]);
        var t = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.Add(2);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "4" });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "8" });
        Assert.Equal([1f, -2f], OnnxTensors.Floats(t, "m.onnx", dir.Path));
        var e = Assert.Throws<InvalidDataException>(() => OnnxTensors.Floats(t, "m.onnx", null));
        Assert.Contains("'w'", e.Message);
    }

    [Fact]
    public void OnnxGraphThatIsNotABertNamesFileAndMissingTensors()
    {
        using var dir = new TempDir();
        var path = dir.File("linear.onnx");
        var graph = new GraphProto { Name = "linear" };
        graph.Input.Add(new ValueInfoProto { Name = "x" });
        graph.Output.Add(new ValueInfoProto { Name = "y" });
        graph.Initializer.Add(FloatTensor("onnx::MatMul_1", [2, 3], [1, 2, 3, 4, 5, 6]));
        graph.Initializer.Add(FloatTensor("fc.bias", [3], [0, 0, 0]));
        graph.Node.Add(Node("MatMul", ["x", "onnx::MatMul_1"], ["h"]));
        graph.Node.Add(Node("Add", ["fc.bias", "h"], ["y"]));
        File.WriteAllBytes(path, new ModelProto { IrVersion = 7, Graph = graph }.ToByteArray());

        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(MoveBesideVocab(dir, path)));
        Assert.Contains(path, e.Message);
        Assert.Contains("not a BERT", e.Message);
        Assert.Contains("'embeddings.word_embeddings.weight'", e.Message);
    }

    [Fact]
    public void FileThatIsNotOnnxSaysSo()
    {
        using var dir = new TempDir();
        var path = dir.File("model.onnx");
        File.WriteAllText(path, "this is not protobuf \u0001\u0002\u00ff");
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(MoveBesideVocab(dir, path)));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MatMulWeightIsTransposedBackToOutByIn()
    {
        // A MatMul weight stored [in=2, out=3] followed by Add(bias) must come back as HF's [out, in].
        var graph = new GraphProto();
        graph.Initializer.Add(FloatTensor("onnx::MatMul_9", [2, 3], [1, 2, 3, 4, 5, 6]));
        graph.Initializer.Add(FloatTensor("pooler.dense.bias", [3], [0, 0, 0]));
        graph.Node.Add(Node("MatMul", ["x", "onnx::MatMul_9"], ["h"]));
        graph.Node.Add(Node("Add", ["h", "pooler.dense.bias"], ["y"]));
        var e = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.Import(graph, "g", null));
        Assert.Contains("not a BERT", e.Message);
        var weights = OnnxBertImporter.ImportWeights(graph, "g", null);
        Assert.Equal([3, 2], weights["pooler.dense.weight"].Shape);
        Assert.Equal([1f, 4, 2, 5, 3, 6], weights["pooler.dense.weight"].Data);
    }

    private static string MoveBesideVocab(TempDir dir, string path)
    {
        File.WriteAllLines(dir.File("vocab.txt"), TinyModel.Vocab);
        return path;
    }

    internal static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    internal static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { OpType = op, Name = op + "_" + outputs[0] };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }
}
