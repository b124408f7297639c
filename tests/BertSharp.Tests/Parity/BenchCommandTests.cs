using System.Text.Json;

namespace BertSharp.Tests.Parity;

public class BenchCommandTests
{
    [Fact]
    public void JsonHasEveryKeyWithPositiveRates()
    {
        var r = CliRunner.Run("bench", "--batch", "2", "--seq", "16", "--train-batch", "2", "--iterations", "1", "--threads", "1", "--profile", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        foreach (var key in new[] { "infer_samples_per_s", "onnxruntime_infer_samples_per_s", "infer_ratio", "train_samples_per_s" })
            Assert.True(root.GetProperty(key).GetDouble() > 0, $"{key} = {root.GetProperty(key)}");
        Assert.Equal(1, root.GetProperty("threads").GetInt32());
        Assert.Equal(16, root.GetProperty("seq").GetInt32());
        Assert.StartsWith("managed-", root.GetProperty("provider").GetString());
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("cpu").GetString()));
        Assert.True(root.GetProperty("infer_profile_ms").GetProperty("Attention").GetDouble() > 0);
        Assert.True(root.GetProperty("train_profile_ms").GetProperty("AttentionBackward").GetDouble() > 0);
    }

    [Fact]
    public void ADirectoryModelIsRefusedBecauseOnnxRuntimeNeedsTheEmbeddedFile()
    {
        var r = CliRunner.Run("bench", "--model", "/no/such/dir", "--iterations", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("built-in", r.Stderr);
    }

    [Fact]
    public void GridHasACellPerBatchAndTokenCountWithPositiveRatesUnderCompetingLoad()
    {
        var r = CliRunner.Run("bench", "--grid", "--grid-batches", "1,2", "--grid-tokens", "8", "--iterations", "1", "--threads", "2", "--contend", "1",
            "--grid-pause-ms", "20", "--grid-one-thread", "--grid-noise", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("contend").GetInt32());
        Assert.Equal(20, root.GetProperty("pause_ms").GetInt32());
        Assert.Equal("mean", root.GetProperty("statistic").GetString()); // beside busy threads: see BenchGrid.Statistic
        var cells = root.GetProperty("cells").EnumerateArray().ToList();
        Assert.Equal([(1, 8), (2, 8)], cells.Select(c => (c.GetProperty("batch").GetInt32(), c.GetProperty("tokens").GetInt32())));
        foreach (var c in cells)
        {
            foreach (var key in new[] { "fp32_samples_per_s", "onnxruntime_samples_per_s", "fp32_ratio", "fp32_one_thread_samples_per_s" })
                Assert.True(c.GetProperty(key).GetDouble() > 0, $"{key} = {c.GetProperty(key)}");
            Assert.Equal(c.GetProperty("fp32_samples_per_s").GetDouble() / c.GetProperty("fp32_one_thread_samples_per_s").GetDouble(),
                c.GetProperty("fp32_thread_ratio").GetDouble(), 0.01);
            // The repeat is a third engine, timed apart from the one-thread one it sits beside in the list.
            Assert.True(c.GetProperty("fp32_repeat_samples_per_s").GetDouble() > 0, $"repeat = {c.GetProperty("fp32_repeat_samples_per_s")}");
            Assert.Equal(c.GetProperty("fp32_repeat_samples_per_s").GetDouble() / c.GetProperty("fp32_samples_per_s").GetDouble(),
                c.GetProperty("fp32_repeat_ratio").GetDouble(), 0.01);
            // A pass of 8 tokens takes milliseconds, so the cell runs more than the one pass asked for (0.1 s of them).
            Assert.True(c.GetProperty("passes").GetInt32() > 1, $"passes = {c.GetProperty("passes")}");
        }
    }

    [Fact]
    public void AGridTokenCountPastTheModelsPositionsIsRefused()
    {
        var r = CliRunner.Run("bench", "--grid", "--grid-tokens", "16,4096", "--iterations", "1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("4096", r.Stderr);
    }
}
