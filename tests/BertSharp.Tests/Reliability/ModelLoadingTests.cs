using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Reliability;

/// <summary>Model files that disagree with themselves or hold garbage are refused at load, naming the file and the problem.</summary>
public sealed class ModelLoadingTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SavedClassifier(string name = "model")
    {
        var path = _dir.File(name);
        TinyModel.Model(labels: 2).Save(path);
        return path;
    }

    [Fact]
    public void NonFiniteWeightsAreRefusedAtLoadNamingTheTensor()
    {
        var model = TinyModel.Model(labels: 2);
        model.Weights["bert.encoder.layer.1.output.dense.weight"].Data[5] = float.NaN;
        var path = _dir.File("nan");
        model.Save(path);

        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("bert.encoder.layer.1.output.dense.weight", e.Message);
        Assert.Contains("not finite", e.Message);

        // The CLI says so in one line instead of failing in the JSON serializer on NaN scores.
        var r = CliRunner.Run("predict", "--model", path, "--json", "the film");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not finite", r.Stderr);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void VocabularyLargerThanTheModelsVocabSizeIsRefusedAtLoad()
    {
        var path = SavedClassifier();
        File.AppendAllText(Path.Combine(path, "vocab.txt"), "extra\n");
        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains($"{TinyModel.Vocab.Length + 1} tokens", e.Message);
        Assert.Contains($"vocab_size is {TinyModel.Vocab.Length}", e.Message);
    }

    [Fact]
    public void ConfigWithFewerLayersThanTheWeightsIsRefused()
    {
        var path = SavedClassifier();
        EditConfig(path, c => c["num_hidden_layers"] = 1);
        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("encoder layer 1", e.Message);
        Assert.Contains("num_hidden_layers is 1", e.Message);
    }

    [Fact]
    public void GapInId2LabelIsRefusedRatherThanRenamingALabel()
    {
        var path = SavedClassifier();
        EditConfig(path, c => c["id2label"] = new JsonObject { ["0"] = "L0", ["2"] = "L1" });
        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains("no id 1", e.Message);
    }

    [Fact]
    public void SafetensorsShapeWhoseSizeOverflowsIsANamedError()
    {
        var path = _dir.File("huge.safetensors");
        var header = Encoding.UTF8.GetBytes("""{"w":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}""");
        var bytes = new byte[8 + header.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("more elements than one tensor can hold", e.Message);
    }

    [Theory]
    [InlineData("position_embedding_type", "relative_key")]
    [InlineData("position_embedding_type", "relative_key_query")]
    [InlineData("hidden_act", "relu")]
    [InlineData("hidden_act", "gelu_new")]
    public void ConfigsBertSharpCannotRunExactlyAreRefusedNamingTheField(string field, string value)
    {
        var path = SavedClassifier();
        EditConfig(path, c => c[field] = value);
        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("config.json", e.Message);
        Assert.Contains($"{field} = {value}: is not supported", e.Message);

        // The CLI's one line, for a bare encoder (embed) as for a classifier.
        var r = CliRunner.Run("embed", "--model", path, "the film");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{field} = {value}", r.Stderr);
    }

    [Fact]
    public void AbsolutePositionsAreRunAsBefore()
    {
        var path = SavedClassifier();
        var before = TextClassifier.Load(path).Predict("the good film").Scores;
        EditConfig(path, c => c["position_embedding_type"] = "absolute");
        Assert.Equal(before, TextClassifier.Load(path).Predict("the good film").Scores);
    }

    [Fact]
    public void ATrainedClassifierOverAPoolerTheCheckpointLacksIsRefused()
    {
        var path = _dir.File("no-pooler");
        Save(TinyModel.Config(labels: 2), path);
        var e = Assert.Throws<InvalidDataException>(() => TextClassifier.Load(path));
        Assert.Contains("bert.pooler.dense.weight", e.Message);
        Assert.Contains("classifier_input", e.Message);

        // An encoder without a pooler is whole for what reads the token states: Hugging Face only warns, and embeddings load.
        var encoder = _dir.File("encoder-no-pooler");
        Save(TinyModel.Config(), encoder);
        Assert.Equal(8, SentenceEmbedder.Load(encoder).Embed("the film").Length);
    }

    private static void Save(BertConfig config, string path) =>
        new PretrainedModel { Config = config, Weights = TinyModel.Weights(config, pooler: false), Source = "tiny", OpenVocab = TinyModel.Model().OpenVocab }.Save(path);

    private static void EditConfig(string directory, Action<JsonObject> edit)
    {
        var file = Path.Combine(directory, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        edit(config);
        File.WriteAllText(file, config.ToJsonString());
    }
}
