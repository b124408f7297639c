using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Training;

public sealed class PretrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-pretrain-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PretrainFromScratchThenFillMaskBiasProbeAndFineTuneTakeTheResult()
    {
        // Unlabelled text: the sentence-polarity training texts, a document per blank-line block.
        var corpus = Path.Combine(_dir, "corpus.txt");
        var sentences = File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).Skip(1).Take(240).Select(l => l[..l.LastIndexOf(',')].Trim('"')).ToList();
        File.WriteAllText(corpus, string.Join("\n\n", sentences.Chunk(4).Select(c => string.Join("\n", c))));
        var config = Path.Combine(_dir, "config.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 }));
        var output = Path.Combine(_dir, "mlm");
        var run = CliRunner.Run("pretrain", "--data", corpus, "--config", config, "--nsp", "--whole-word-mask", "--max-length", "48", "--epochs", "1",
            "--batch-size", "16", "--lr", "1e-3", "--validation-split", "0.1", "-o", output, "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var result = JsonDocument.Parse(run.Stdout).RootElement;
        double before = result.GetProperty("before").GetProperty("mlm_loss").GetDouble();
        double after = result.GetProperty("after").GetProperty("mlm_loss").GetDouble();
        Assert.True(after < before, $"held-out masked-LM loss {before} → {after}");
        Assert.True(result.GetProperty("after").TryGetProperty("nsp_accuracy", out _));
        var saved = PretrainedModel.Load(output);
        Assert.Equal(nameof(BertForPreTraining), saved.Config.Architectures![0]);
        Assert.DoesNotContain(saved.Weights.Keys, k => k.Contains("decoder", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(output, "eval_before.json")));

        var fill = CliRunner.Run("fill-mask", "--model", output, "the film is [MASK] .", "--top-k", "2", "--json");
        Assert.True(fill.ExitCode == 0, fill.Stderr);
        Assert.Equal(2, JsonDocument.Parse(fill.Stdout).RootElement.GetProperty("masks")[0].GetArrayLength());

        var png = Path.Combine(_dir, "bias.png");
        var probe = CliRunner.Run("bias-probe", "--model", output, "--targets", "he,she,zzyzx", "--plot", png, "--json");
        Assert.True(probe.ExitCode == 0, probe.Stderr);
        var rows = JsonDocument.Parse(probe.Stdout).RootElement;
        Assert.Equal(5, rows.GetProperty("rows").GetArrayLength());
        Assert.Equal("zzyzx", rows.GetProperty("missing_targets")[0].GetString());
        Assert.True(new FileInfo(png).Length > 1000);
        // The report over the plot: one output replaced the other (the PNG became text).
        var both = CliRunner.Run("bias-probe", "--model", output, "--targets", "he,she", "--plot", png, "-o", png);
        Assert.Equal(1, both.ExitCode);
        Assert.Contains("is also --output", both.Stderr, StringComparison.Ordinal);
        Assert.Equal(0x89, File.ReadAllBytes(png)[0]);

        var bad = CliRunner.Run("fill-mask", "--model", output, "no mask at all");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("has no [MASK]", bad.Stderr, StringComparison.Ordinal);

        // The pre-trained directory is a base model for fine-tuning.
        var train = Path.Combine(_dir, "train.csv");
        File.WriteAllLines(train, File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).Take(33));
        var tuned = CliRunner.Run("train", "--data", train, "--model", output, "--epochs", "1", "--validation-split", "0", "--max-length", "32", "-o", Path.Combine(_dir, "tuned"));
        Assert.True(tuned.ExitCode == 0, tuned.Stderr);
    }

    [Fact]
    public void ACorpusWithoutTextIsAnErrorNamingTheFile()
    {
        var empty = Path.Combine(_dir, "empty.txt");
        File.WriteAllText(empty, "\n\n  \n");
        var run = CliRunner.Run("pretrain", "--data", empty, "--config", "tiny", "-o", Path.Combine(_dir, "out"));
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("empty.txt: no text to pre-train on", run.Stderr, StringComparison.Ordinal);
    }
}
