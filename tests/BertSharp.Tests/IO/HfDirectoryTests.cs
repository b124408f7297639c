using System.Text.Json.Nodes;
using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Tests.IO;

public class HfDirectoryTests
{
    private static void AssertSameWeights(StateDict expected, StateDict actual)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, t) in expected)
        {
            Assert.Equal(t.Shape, actual[name].Shape);
            Assert.True(t.Data.AsSpan().SequenceEqual(actual[name].Data), $"tensor {name} differs");
        }
    }

    [Fact]
    public void SavedClassifierDirectoryHasHfNamesAndReloadsExactly()
    {
        using var dir = new TempDir();
        var model = TinyModel.Model(labels: 3, doLowerCase: false);
        model.Save(dir.Path);

        Assert.Equal(["config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"],
            Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var names = SafeTensors.Read(dir.File("model.safetensors")).Keys.ToHashSet();
        Assert.Contains("bert.embeddings.word_embeddings.weight", names);
        Assert.Contains("bert.encoder.layer.1.output.LayerNorm.bias", names);
        Assert.Contains("bert.pooler.dense.weight", names);
        Assert.Contains("classifier.weight", names);
        Assert.DoesNotContain("bert.classifier.weight", names);

        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!;
        Assert.Equal("bert", (string?)config["model_type"]);
        Assert.Equal("float32", (string?)config["torch_dtype"]);
        Assert.Equal("BertForSequenceClassification", (string?)config["architectures"]![0]);
        Assert.Equal("L2", (string?)config["id2label"]!["2"]);
        Assert.Equal(1, (int?)config["label2id"]!["L1"]);
        Assert.Equal(8, (int?)config["hidden_size"]);
        var tokenizer = JsonNode.Parse(File.ReadAllText(dir.File("tokenizer_config.json")))!;
        Assert.False((bool?)tokenizer["do_lower_case"]);
        Assert.Equal(16, (int?)tokenizer["model_max_length"]);
        Assert.Equal(TinyModel.Vocab, File.ReadAllLines(dir.File("vocab.txt")));

        var loaded = PretrainedModel.Load(dir.Path);
        AssertSameWeights(model.Weights, loaded.Weights);
        Assert.Equal(model.Config.HiddenSize, loaded.Config.HiddenSize);
        Assert.Equal(model.Config.Id2Label, loaded.Config.Id2Label);
        Assert.False(loaded.DoLowerCase);
        Assert.Equal(16, loaded.ModelMaxLength);
        Assert.Equal(dir.File("vocab.txt"), loaded.VocabPath);
    }

    [Fact]
    public void BuiltInModelSavesAsADirectoryThatLoadsBackBitExactly()
    {
        using var dir = new TempDir();
        var builtIn = PretrainedModel.Load("minilm-l6");
        builtIn.Save(dir.Path);
        var loaded = PretrainedModel.Load(dir.Path);
        AssertSameWeights(builtIn.Weights, loaded.Weights);
        Assert.Equal(builtIn.Config with { Architectures = null }, loaded.Config with { Architectures = null });
        var vocab = File.ReadAllLines(dir.File("vocab.txt"));
        Assert.Equal(30522, vocab.Length);
        Assert.Equal("[CLS]", vocab[101]);
    }

    [Fact]
    public void ReadsBareNamesAndTensorFlowEraGammaBeta()
    {
        using var dir = new TempDir();
        var model = TinyModel.Model();
        model.Save(dir.Path);
        // Rewrite the weights as an older checkpoint would name them: no "bert." and LayerNorm gamma/beta.
        var renamed = new Dictionary<string, FloatTensor>();
        foreach (var (name, t) in model.Weights)
            renamed[name.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta")] = t;
        SafeTensors.Write(dir.File("model.safetensors"), renamed);
        AssertSameWeights(model.Weights, PretrainedModel.Load(dir.Path).Weights);
    }

    [Fact]
    public void ReadsShardedSafetensors()
    {
        using var dir = new TempDir();
        var model = TinyModel.Model();
        model.Save(dir.Path);
        File.Delete(dir.File("model.safetensors"));
        var first = model.Weights.Where(kv => kv.Key.StartsWith("bert.embeddings.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var rest = model.Weights.Where(kv => !kv.Key.StartsWith("bert.embeddings.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        SafeTensors.Write(dir.File("model-00001-of-00002.safetensors"), first);
        SafeTensors.Write(dir.File("model-00002-of-00002.safetensors"), rest);
        var map = new JsonObject();
        foreach (var k in first.Keys) map[k] = "model-00001-of-00002.safetensors";
        foreach (var k in rest.Keys) map[k] = "model-00002-of-00002.safetensors";
        File.WriteAllText(dir.File("model.safetensors.index.json"), new JsonObject { ["weight_map"] = map }.ToJsonString());
        AssertSameWeights(model.Weights, PretrainedModel.Load(dir.Path).Weights);
    }

    [Fact]
    public void PytorchBinAloneIsRefusedWithTheWayOut()
    {
        using var dir = new TempDir();
        TinyModel.Model().Save(dir.Path);
        File.Move(dir.File("model.safetensors"), dir.File("pytorch_model.bin"));
        var e = Assert.Throws<NotSupportedException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("safe_serialization=True", e.Message);
    }

    [Fact]
    public void DirectoryWithoutConfigOrWeightsSaysWhichFileIsMissing()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<FileNotFoundException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(dir.Path, e.Message);

        TinyModel.Model().Save(dir.Path);
        File.Delete(dir.File("model.safetensors"));
        e = Assert.Throws<FileNotFoundException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void WeightShapeThatDisagreesWithTheConfigNamesFileAndTensor()
    {
        using var dir = new TempDir();
        TinyModel.Model().Save(dir.Path);
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!;
        config["intermediate_size"] = 32;
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains(dir.File("model.safetensors"), e.Message);
        Assert.Contains("'bert.encoder.layer.0.intermediate.dense.weight' has shape [16, 8] but the config needs [32, 8]", e.Message);
    }

    [Fact]
    public void ClassifierMustMatchTheLabelCount()
    {
        using var dir = new TempDir();
        var model = TinyModel.Model(labels: 3);
        model.Save(dir.Path);
        var config = JsonNode.Parse(File.ReadAllText(dir.File("config.json")))!;
        config["id2label"] = new JsonObject { ["0"] = "neg", ["1"] = "pos" };
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("'classifier.weight' has shape [3, 8] but the config needs [2, 8]", e.Message);
    }

    [Fact]
    public void BadConfigJsonNamesTheFile()
    {
        using var dir = new TempDir();
        TinyModel.Model().Save(dir.Path);
        File.WriteAllText(dir.File("config.json"), """{"hidden_size": "big"}""");
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains(dir.File("config.json"), e.Message);

        File.WriteAllText(dir.File("config.json"), """{"hidden_size": 10, "num_attention_heads": 4}""");
        e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("hidden_size = 10: is not a multiple of num_attention_heads (4)", e.Message);
    }

    [Fact]
    public void AConfigThatIsNotJsonGetsAOneLineErrorNotTheFileBack()
    {
        // The parser quotes the literal it stopped at, which for a text file runs to its end: the error held all 200 KB.
        using var dir = new TempDir();
        TinyModel.Model().Save(dir.Path);
        string text = "text,label\n" + string.Concat(Enumerable.Repeat("a gripping film,1\n", 11_000));
        File.WriteAllText(dir.File("config.json"), text);
        var e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.StartsWith($"{dir.File("config.json")}: 'text,label", e.Message);
        Assert.Contains($"…' ({text.Length:N0} characters) is an invalid JSON literal. Expected the literal 'true'.", e.Message);
        Assert.True(e.Message.Length < dir.File("config.json").Length + 200, e.Message);

        // A short token keeps the parser's own words.
        File.WriteAllText(dir.File("config.json"), "{\"hidden_size\": tru}");
        e = Assert.Throws<InvalidDataException>(() => PretrainedModel.Load(dir.Path));
        Assert.Contains("'tru}' is an invalid JSON literal", e.Message);
    }
}
