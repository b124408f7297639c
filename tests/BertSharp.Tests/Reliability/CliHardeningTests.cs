using System.Security.Cryptography;
using System.Text.Json;
using BertSharp.Evaluation;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Reliability;

/// <summary>The command line against careless input: undefined metrics, outputs over inputs, typos, bad values.</summary>
public sealed class CliHardeningTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string SavedClassifier()
    {
        var path = _dir.File("model");
        TinyModel.Model(labels: 2).Save(path);
        return path;
    }

    [Fact]
    public void RocAucOfASingleClassIsUndefinedNotAnError()
    {
        var report = ClassificationReport.Create([1, 1, 1], [1, 0, 1], ["L0", "L1"], [0.9, 0.2, 0.7]);
        Assert.Null(report.RocAuc);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(report.ToJson()).RootElement.GetProperty("roc_auc").ValueKind);

        var model = SavedClassifier();
        var data = _dir.File("one-class.csv");
        File.WriteAllLines(data, ["text,label", "the film,L1", "a good film,L1", "bad,L1"]);
        var r = CliRunner.Run("eval", "--model", model, "--data", data, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var json = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(JsonValueKind.Null, json.GetProperty("roc_auc").ValueKind);
        Assert.Equal(3, json.GetProperty("L1").GetProperty("support").GetInt32());
    }

    [Fact]
    public void TrainingWithASingleClassEvalSetSavesTheModelAndStaleTempFilesAreCleaned()
    {
        var model = _dir.File("tiny");
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        HfDirectory.Save(model, config, BertModel.CreateRandom(config, seed: 3).ToStateDict(), () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true, modelMaxLength: 64);
        var lines = File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).ToList();
        var train = _dir.File("train.csv");
        File.WriteAllLines(train, lines.Take(17));
        var eval = _dir.File("eval.csv");
        File.WriteAllLines(eval, [lines[0], .. lines.Skip(1).Where(l => l.EndsWith(",positive", StringComparison.Ordinal)).Take(8)]);
        var output = _dir.File("run");
        Directory.CreateDirectory(output);
        // What a kill during AtomicFile's final save leaves behind.
        var stale = Path.Combine(output, $".model.safetensors.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(stale, new byte[16]);

        var r = CliRunner.Run("train", "--data", train, "--eval", eval, "--model", model, "--epochs", "1", "--batch-size", "8", "--max-length", "32", "-o", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.False(File.Exists(stale), "the stale temporary file from a killed save is still there");
    }

    [Fact]
    public void OutputsThatAreInputsAreRefusedAndTheInputsKept()
    {
        var model = SavedClassifier();
        var weights = Path.Combine(model, "model.safetensors");
        var before = SHA256.HashData(File.ReadAllBytes(weights));

        var r = CliRunner.Run("predict", "--model", model, "--output", weights, "the film");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("which this command reads", r.Stderr);
        r = CliRunner.Run("export-onnx", "--model", model, "--output", weights);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("which this command reads", r.Stderr);
        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(weights)));

        var input = _dir.File("texts.txt");
        File.WriteAllText(input, "the film\n");
        r = CliRunner.Run("predict", "--model", model, "--input", input, "--output", input);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("the film\n", File.ReadAllText(input));
    }

    [Fact]
    public void EmptyTextsAndAnEmptyOrNonUtf8InputAreErrorsNamingThem()
    {
        // An empty argument was classified, an empty --input was "give texts as arguments or --input FILE", and embed
        // read a Latin-1 byte as U+FFFD without a word.
        var model = SavedClassifier();
        var r = CliRunner.Run("predict", "--model", model, "a fine film", " ");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("bertsharp: error: text 2 is empty; give some text to classify\n", r.Stderr);
        string dir = Path.GetDirectoryName(model)!;
        string empty = Path.Combine(dir, "empty.txt");
        File.WriteAllText(empty, "\n  \n");
        r = CliRunner.Run("predict", "--model", model, "--input", empty);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"bertsharp: error: {empty}: no texts in the file (it is empty or blank)\n", r.Stderr);
        string rows = Path.Combine(dir, "rows.jsonl");
        File.WriteAllText(rows, "{\"text\": \"good\"}\n{\"text\": \"\"}\n");
        r = CliRunner.Run("predict", "--model", model, "--input", rows);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"bertsharp: error: {rows}:2: \"text\" is empty\n", r.Stderr);
        string latin = Path.Combine(dir, "latin.txt");
        File.WriteAllBytes(latin, [.. "a good film\nna"u8, 0xEF, .. "ve\n"u8]);
        r = CliRunner.Run("embed", "--input", latin);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"bertsharp: error: {latin}, line 2: byte 0xEF at byte offset 14 is not valid UTF-8; convert the file to UTF-8\n", r.Stderr);
        r = CliRunner.Run("predict", "--model", model, "--input", latin);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{latin}, line 2: byte 0xEF", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void OutOfRangeOptionsAreUsageErrorsInTheCommandsTerms()
    {
        // They came from the library as "topK ('0') must be greater than or equal to '1'. (Parameter 'topK')" and a
        // second line "Actual value was 0.", exit 1.
        var r = CliRunner.Run("fill-mask", "--model", "minilm-l6", "a [MASK] film", "--top-k", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("bertsharp: --top-k 0: must be at least 1\n", r.Stderr, StringComparison.Ordinal);
        r = CliRunner.Run("tokenize", "--max-length", "1", "I like NLP");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("bertsharp: --max-length 1: must be at least 2", r.Stderr, StringComparison.Ordinal);
        // What only the library can judge (a pair needs three) is one line, without its parameter's name.
        r = CliRunner.Run("tokenize", "--max-length", "2", "I like NLP", "--pair", "and you");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("bertsharp: error: max_length 2 is too small for the 3 special tokens of a pair\n", r.Stderr);
    }

    [Fact]
    public void MistypedOptionIsAnErrorWithAHintNotTextToClassify()
    {
        var model = SavedClassifier();
        var r = CliRunner.Run("predict", "--model", model, "--top_k", "2", "the film");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option '--top_k' (did you mean '--top-k'?)", r.Stderr);
        Assert.Equal("", r.Stdout);
        r = CliRunner.Run("predict", "--model", model, "--outptu", "p.txt", "the film");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("did you mean '--output'?", r.Stderr);
        // After "--" it is text, as the message says.
        r = CliRunner.Run("predict", "--model", model, "--", "--top_k");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("--top_k", r.Stdout);
    }

    [Theory]
    [InlineData("-0.1")]
    [InlineData("NaN")]
    public void ValidationSplitOutsideZeroToOneIsRefused(string split)
    {
        var r = CliRunner.Run("train", "--data", TestData.Path("sentence-polarity", "train.csv"), "--validation-split", split, "-o", _dir.File("out"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"--validation-split {split}: must be in [0, 1)", r.Stderr);
    }

    [Fact]
    public void TokenizeInputRefusesInvalidUtf8LikePredictAndTrain()
    {
        var input = _dir.File("bad.jsonl");
        File.WriteAllBytes(input, [.. "{\"text\": \"caf"u8, 0xC3, .. "\"}\n"u8]);
        var r = CliRunner.Run("tokenize", "--input", input);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not valid UTF-8", r.Stderr);
        Assert.Equal("", r.Stdout);
    }
}
