using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Training;

public sealed class TrainCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-train-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A small random BERT saved as an HF directory over the real vocabulary, so the CLI runs fast.</summary>
    private string TinyModel()
    {
        var dir = Path.Combine(_dir, "tiny");
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        var model = BertModel.CreateRandom(config, seed: 3);
        HfDirectory.Save(dir, config, model.ToStateDict(), () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true, modelMaxLength: 64);
        return dir;
    }

    private string TrainCsv(int rows)
    {
        var path = Path.Combine(_dir, "train.csv");
        var lines = File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).Take(rows + 1);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void KillingTheRunMidSaveNeverLeavesAHalfWrittenCheckpointAndResumeFinishes()
    {
        var model = TinyModel();
        var data = TrainCsv(96);
        var output = Path.Combine(_dir, "run");
        string[] args = ["train", "--data", data, "--model", model, "--validation-split", "0", "--epochs", "1", "--batch-size", "8",
            "--max-length", "32", "--save-steps", "1", "-o", output];

        // Kill -9 while a checkpoint is being written (its temporary directory exists), at several
        // moments of the save; each run after the first resumes from what the last kill left.
        bool first = true;
        foreach (var delayMs in new[] { 0, 3, 10 })
        {
            using var p = CliRunner.Start(first ? args : [.. args, "--resume"]);
            first = false;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(Directory.Exists(output) && Directory.EnumerateDirectories(output, "checkpoint-*").Any()
                && Directory.EnumerateDirectories(output, ".checkpoint-*").Any()))
            {
                Assert.True(DateTime.UtcNow < deadline, "no checkpoint save was seen");
                Assert.False(p.HasExited, "training ended before it could be killed");
                Thread.Sleep(1);
            }
            Thread.Sleep(delayMs);
            p.Kill(entireProcessTree: true);
            p.WaitForExit();

            foreach (var checkpoint in Directory.EnumerateDirectories(output, "checkpoint-*"))
            {
                // A directory under its final name is whole: every file there and readable.
                var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")));
                Assert.True(state.RootElement.GetProperty("global_step").GetInt32() > 0);
                Assert.NotEmpty(SafeTensors.Read(Path.Combine(checkpoint, "model.safetensors")));
                Assert.NotEmpty(SafeTensors.Read(Path.Combine(checkpoint, "optimizer.safetensors")));
                Assert.True(File.Exists(Path.Combine(checkpoint, "config.json")));
                Assert.True(File.Exists(Path.Combine(checkpoint, "vocab.txt")));
            }
        }

        var finish = CliRunner.Run([.. args, "--resume"]);
        Assert.True(finish.ExitCode == 0, finish.Stderr);
        Assert.Empty(Directory.EnumerateDirectories(output, ".checkpoint-*"));
        var last = Directory.EnumerateDirectories(output, "checkpoint-*").Max(d => int.Parse(Path.GetFileName(d)["checkpoint-".Length..]));
        Assert.Equal(12, last);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    [Theory]
    [InlineData("-INT")]
    [InlineData("-TERM")]
    public void CtrlCOrSigtermSavesACheckpointExitsCleanlyAndResumeFinishes(string signal)
    {
        // A shell starts background jobs with SIGINT ignored, and children inherit that: where this test
        // process ignores SIGINT (as under `nohup … &`), the child cannot receive Ctrl-C at all.
        if (signal == "-INT" && IgnoresSigint()) signal = "-TERM";
        var model = TinyModel();
        var output = Path.Combine(_dir, "interrupted");
        // 1,500 steps: long enough on a quiet machine that the signal lands mid-run.
        string[] args = ["train", "--data", TrainCsv(2000), "--model", model, "--validation-split", "0", "--epochs", "3", "--batch-size", "4",
            "--max-length", "32", "--logging-steps", "1", "-o", output];
        using var p = CliRunner.Start(args);
        var log = Path.Combine(output, "train_log.jsonl");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!File.Exists(log) || File.ReadLines(log).Count() < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "training did not start");
            Assert.False(p.HasExited, "training ended before it could be interrupted");
            Thread.Sleep(10);
        }
        using (var kill = System.Diagnostics.Process.Start("kill", [signal, p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        Assert.True(p.WaitForExit(60_000), $"the run did not stop after kill {signal}");
        Assert.Equal(130, p.ExitCode);

        var checkpoint = Assert.Single(Directory.EnumerateDirectories(output, "checkpoint-*"));
        int step = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json"))).RootElement.GetProperty("global_step").GetInt32();
        Assert.InRange(step, 3, 1499);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")), "an interrupted run must not publish a final model");

        var resumed = CliRunner.Run([.. args, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        var steps = File.ReadLines(log).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, 1500), steps.Distinct().Order());
    }

    private static bool IgnoresSigint()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0;
    }

    [Theory]
    [InlineData("missing.csv", "", "no such file")]
    [InlineData("train.csv", "--label-column=stars", "stars")]
    [InlineData("train.csv", "--batch-size=0", "batch size")]
    public void BadInputIsOneLineNamingTheProblem(string file, string option, string expected)
    {
        var model = TinyModel();
        var data = file == "train.csv" ? TrainCsv(20) : Path.Combine(_dir, file);
        string[] args = ["train", "--data", data, "--model", model, "-o", Path.Combine(_dir, "out")];
        var r = CliRunner.Run(option.Length > 0 ? [.. args, option] : args);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void AnOutputDirectoryHoldingAModelIsRefused()
    {
        var model = TinyModel();
        var r = CliRunner.Run("train", "--data", TrainCsv(20), "--model", model, "-o", model);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("already holds a model", r.Stderr);

        var output = Path.Combine(_dir, "again");
        string[] args = ["train", "--data", TrainCsv(20), "--model", model, "--epochs", "1", "--max-length", "16", "-o", output];
        Assert.Equal(0, CliRunner.Run(args).ExitCode);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        var again = CliRunner.Run([.. args, "--overwrite-output-dir"]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
    }

    [Fact]
    public void AnOverwriteThatFailsKeepsTheOldModelAndSaysWhyInOneLine()
    {
        var model = TinyModel();
        var output = Path.Combine(_dir, "kept");
        string[] args = ["train", "--data", TrainCsv(32), "--model", model, "--epochs", "1", "--max-length", "16", "-o", output];
        var trained = CliRunner.Run(args);
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var old = File.ReadAllBytes(Path.Combine(output, "model.safetensors"));

        var diverged = CliRunner.Run([.. args, "--overwrite-output-dir", "--lr", "1e10", "--save-steps", "1"]);
        Assert.Equal(1, diverged.ExitCode);
        Assert.Contains("training diverged at step", diverged.Stderr);
        Assert.Single(diverged.Stderr.Trim().Split('\n'));
        Assert.Equal(old, File.ReadAllBytes(Path.Combine(output, "model.safetensors")));
    }

    [Fact]
    public void ScoresGivenAsClassLabelsGetAWarningThatNamesRegression()
    {
        // 0.11, 0.54, …: every distinct score became a class, without a word.
        var data = Path.Combine(_dir, "scores.csv");
        File.WriteAllLines(data, ["text,label", .. Enumerable.Range(0, 12).Select(i => $"text number {i},{(i % 4) * 0.25 + 0.1:0.00}")]);
        var r = CliRunner.Run("train", "--data", data, "--model", TinyModel(), "--epochs", "1", "--max-length", "16", "--validation-split", "0", "-o", Path.Combine(_dir, "scores"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("bertsharp: warning: the 4 labels are numbers, not all whole (0.10, 0.35, 0.60, 0.85): each is trained as a class of its own; for a score to predict, give --problem-type regression", r.Stderr);
        // Whole numbers are the usual class ids (0/1, 1–5 stars): no warning.
        File.WriteAllLines(data, ["text,label", .. Enumerable.Range(0, 12).Select(i => $"text number {i},{i % 2}")]);
        r = CliRunner.Run("train", "--data", data, "--model", TinyModel(), "--epochs", "1", "--max-length", "16", "--validation-split", "0", "-o", Path.Combine(_dir, "classes"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("warning", r.Stderr);
    }

    [Fact]
    public void EvalAndPredictReadTheTrainedDirectory()
    {
        var model = TinyModel();
        var output = Path.Combine(_dir, "trained");
        var train = CliRunner.Run("train", "--data", TrainCsv(40), "--model", model, "--epochs", "1", "--max-length", "32", "-o", output);
        Assert.True(train.ExitCode == 0, train.Stderr);

        var eval = CliRunner.Run("eval", "--model", output, "--data", TestData.Path("sentence-polarity", "dev.csv"), "--json");
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var report = JsonDocument.Parse(eval.Stdout).RootElement;
        Assert.Equal(1066, report.GetProperty("macro avg").GetProperty("support").GetInt32());

        // The text report: scikit-learn's table, then the confusion matrix and ROC-AUC the JSON holds; -o writes it to a file.
        var reportFile = Path.Combine(_dir, "reports", "dev.txt");
        var text = CliRunner.Run("eval", "--model", output, "--data", TestData.Path("sentence-polarity", "dev.csv"), "-o", reportFile);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Equal("", text.Stdout);
        var written = File.ReadAllText(reportFile);
        var matrix = report.GetProperty("confusion_matrix").GetProperty("matrix");
        Assert.Contains("true \\ predicted", written, StringComparison.Ordinal);
        foreach (var (row, label) in new[] { "negative", "positive" }.Index())
            Assert.Contains(written.Split('\n'), l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var name, var a, var b]
                && name == label && a == matrix[row][0].GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture) && b == matrix[row][1].GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(FormattableString.Invariant($"roc_auc {report.GetProperty("roc_auc").GetDouble():F4}"), written, StringComparison.Ordinal);
        var overData = CliRunner.Run("eval", "--model", output, "--data", TestData.Path("sentence-polarity", "dev.csv"), "-o", Path.Combine(output, "model.safetensors"));
        Assert.Equal(1, overData.ExitCode);
        Assert.Contains("which this command reads", overData.Stderr);

        var predict = CliRunner.Run("predict", "--model", output, "--json", "--top-k", "0", "a gripping film", "a dull mess");
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var lines = predict.Stdout.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        var scores = first.GetProperty("scores");
        Assert.Equal(1.0, scores.GetProperty("negative").GetDouble() + scores.GetProperty("positive").GetDouble(), 1e-5);

        var unknown = Path.Combine(_dir, "unknown.csv");
        File.WriteAllText(unknown, "text,label\ngood film,positive\nodd film,neutral\n");
        var bad = CliRunner.Run("eval", "--model", output, "--data", unknown);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("unknown.csv", bad.Stderr);
        Assert.Contains("neutral", bad.Stderr);
    }
}
