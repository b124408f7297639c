using System.Text.Json;
using BertSharp.Tests.Data;
using BertSharp.Tests.Server;

namespace BertSharp.Tests.Distributed;

/// <summary><c>predict</c>/<c>eval</c> split over job-array parts (<c>--shard</c>) and over MPI ranks give what one whole run gives.</summary>
[Collection(ServedModel.Collection)]
public sealed class ShardedInferenceTests(ServedModel model)
{
    private (string Input, string Csv, TempDir Dir) WriteInputs()
    {
        var dir = new TempDir();
        // 41 texts: no split into 2 or 3 parts is even.
        var rows = model.HeldOut.Append(("what is the capital of peru ?", "question")).ToArray();
        var input = dir.Write("texts.jsonl", string.Concat(rows.Select(r => JsonSerializer.Serialize(new { text = r.Item1 }) + "\n")));
        var csv = dir.Write("labelled.csv", "text,label\n" + string.Concat(rows.Select(r => $"\"{r.Item1.Replace("\"", "\"\"")}\",{r.Item2}\n")));
        return (input, csv, dir);
    }

    /// <summary>Labels exactly, scores to float noise: a part runs its texts in other batches than the whole run.</summary>
    private static void AssertSamePredictions(string expected, string actual)
    {
        var want = expected.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var got = actual.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
        {
            using var w = JsonDocument.Parse(want[i]);
            using var g = JsonDocument.Parse(got[i]);
            Assert.Equal(w.RootElement.GetProperty("text").GetString(), g.RootElement.GetProperty("text").GetString());
            Assert.Equal(w.RootElement.GetProperty("label").GetString(), g.RootElement.GetProperty("label").GetString());
            Assert.Equal(w.RootElement.GetProperty("score").GetDouble(), g.RootElement.GetProperty("score").GetDouble(), 4);
        }
    }

    [Fact]
    public void Shard_outputs_laid_end_to_end_are_the_whole_output()
    {
        var (input, _, dir) = WriteInputs();
        using var _dir = dir;
        var whole = CliRunner.Run("predict", "--model", model.Directory, "--input", input, "--json");
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var parts = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            var path = Path.Combine(dir.Root, $"part-{i}.jsonl");
            var r = CliRunner.Run("predict", "--model", model.Directory, "--input", input, "--json", "--shard", $"{i}/3", "--output", path);
            Assert.True(r.ExitCode == 0, r.Stderr);
            parts.Add(File.ReadAllText(path));
        }
        Assert.Equal([14, 14, 13], parts.Select(p => p.Count(c => c == '\n')));
        AssertSamePredictions(whole.Stdout, string.Concat(parts));

        var bad = CliRunner.Run("predict", "--model", model.Directory, "--input", input, "--shard", "3/3");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--shard 3/3: expected i/N", bad.Stderr);
    }

    [Fact]
    public void Eval_shards_confusion_matrices_add_up_to_the_whole_one()
    {
        var (_, csv, dir) = WriteInputs();
        using var _dir = dir;
        static int[][] Matrix(CliRunner.Result r)
        {
            Assert.True(r.ExitCode == 0, r.Stderr);
            using var report = JsonDocument.Parse(r.Stdout);
            var rows = report.RootElement.GetProperty("confusion_matrix").GetProperty("matrix");
            return [.. rows.EnumerateArray().Select(row => row.EnumerateArray().Select(c => c.GetInt32()).ToArray())];
        }
        var whole = Matrix(CliRunner.Run("eval", "--model", model.Directory, "--data", csv, "--json"));
        var parts = Enumerable.Range(0, 2).Select(i => Matrix(CliRunner.Run("eval", "--model", model.Directory, "--data", csv, "--json", "--shard", $"{i}/2"))).ToArray();
        Assert.Equal(41, whole.Sum(r => r.Sum()));
        Assert.Equal([21, 20], parts.Select(p => p.Sum(r => r.Sum())));
        for (int i = 0; i < whole.Length; i++)
            for (int j = 0; j < whole[i].Length; j++)
                Assert.Equal(whole[i][j], parts[0][i][j] + parts[1][i][j]);
    }

    [SkippableFact]
    public void Under_mpirun_rank_0_writes_one_output_in_input_order()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        var (input, csv, dir) = WriteInputs();
        using var _dir = dir;
        var whole = CliRunner.Run("predict", "--model", model.Directory, "--input", input, "--json");
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var merged = Path.Combine(dir.Root, "merged.jsonl");
        var run = MpiRun.Run(3, "predict", "--model", model.Directory, "--input", input, "--json", "--output", merged);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        AssertSamePredictions(whole.Stdout, File.ReadAllText(merged));
        Assert.Equal(["labelled.csv", "merged.jsonl", "texts.jsonl"], Directory.GetFiles(dir.Root).Select(Path.GetFileName).Order()); // no temporary file left behind

        // eval splits every batch over the ranks and rank 0 alone prints the whole set's report (one JSON document).
        var single = CliRunner.Run("eval", "--model", model.Directory, "--data", csv, "--json");
        Assert.True(single.ExitCode == 0, single.Stderr);
        var two = MpiRun.Run(2, "eval", "--model", model.Directory, "--data", csv, "--json");
        Assert.True(two.ExitCode == 0, two.Stdout + two.Stderr);
        using var want = System.Text.Json.JsonDocument.Parse(single.Stdout);
        using var got = System.Text.Json.JsonDocument.Parse(two.Stdout);
        Assert.Equal(want.RootElement.GetProperty("accuracy").GetDouble(), got.RootElement.GetProperty("accuracy").GetDouble(), 6);
        Assert.Equal(want.RootElement.GetProperty("confusion_matrix").ToString(), got.RootElement.GetProperty("confusion_matrix").ToString());
    }
}
