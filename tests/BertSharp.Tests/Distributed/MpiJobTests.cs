using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.Data;

namespace BertSharp.Tests.Distributed;

/// <summary>Real MPI jobs of two ranks on this machine through the system's Open MPI; skipped without mpirun.</summary>
public class MpiJobTests
{
    private static float[] ReadFloats(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();

    [SkippableFact]
    public void Allreduce_broadcast_and_gather_give_what_the_inputs_say()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        using var dir = new TempDir();
        const int n = 100_003; // not a multiple of anything MPI might chunk by
        var run = MpiRun.Run(2, "distributed-check", "--floats", n.ToString(System.Globalization.CultureInfo.InvariantCulture), "--repeat", "2", "--output", dir.Root);
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.Contains("2 rank(s) over Open MPI", run.Stdout);

        var inputs = Enumerable.Range(0, 2).Select(r => ReadFloats(Path.Combine(dir.Root, $"rank{r}.input.f32"))).ToArray();
        Assert.All(inputs, x => Assert.Equal(n, x.Length));
        Assert.False(inputs[0].AsSpan().SequenceEqual(inputs[1]), "the ranks should contribute different numbers");
        for (int r = 0; r < 2; r++)
        {
            var sum = ReadFloats(Path.Combine(dir.Root, $"rank{r}.sum.f32"));
            for (int i = 0; i < n; i++)
            {
                // Two floats' sum rounded once: exactly what float addition of the two inputs gives.
                Assert.Equal(inputs[0][i] + inputs[1][i], sum[i]);
            }
            Assert.Equal(inputs[0], ReadFloats(Path.Combine(dir.Root, $"rank{r}.bcast.f32")));
        }
        Assert.Equal("rank 0 of 2\n*rank 1 of 2\n", File.ReadAllText(Path.Combine(dir.Root, "gather.txt")));
    }

    [SkippableFact]
    public void A_killed_rank_ends_the_job_within_seconds()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        // Enough all-reduces to run for minutes: the job must end because of the kill, not by finishing.
        using var job = Process.Start(MpiRun.StartInfo(2, "distributed-check", "--floats", "100000", "--repeat", "100000000"))!;
        job.OutputDataReceived += (_, _) => { };
        var stderr = new System.Text.StringBuilder();
        job.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        job.BeginOutputReadLine();
        job.BeginErrorReadLine();
        int victim = WaitForChild(job.Id, TimeSpan.FromSeconds(60));
        Thread.Sleep(2000); // let both ranks get into the all-reduce loop
        KillRankAndSeeTheJobEnd(job, victim);
        lock (stderr) Assert.Contains("exited on signal 9", stderr.ToString());
    }

    [SkippableFact]
    public void An_error_on_the_ranks_ends_the_job_with_the_message()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        var run = MpiRun.Run(2, "distributed-check", "--floats", "0");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--floats 0: must be ≥ 1; ending the job", run.Stderr);
    }

    /// <summary>A small random BERT over the real vocabulary saved as an HF directory, so that training runs in seconds.</summary>
    private static string TinyModel(TempDir dir)
    {
        var path = Path.Combine(dir.Root, "tiny");
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        HfDirectory.Save(path, config, BertModel.CreateRandom(config, seed: 3).ToStateDict(), () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true, modelMaxLength: 64);
        return path;
    }

    private static string Rows(TempDir dir, string file, int rows) =>
        dir.Write(file, string.Join('\n', File.ReadLines(TestData.Path("sentence-polarity", file)).Take(rows + 1)) + "\n");

    private static List<JsonElement> TrainLog(string output) =>
        [.. File.ReadLines(Path.Combine(output, "train_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == "train")];

    private static List<Dictionary<string, double>> EvalMetrics(string output) =>
        [.. File.ReadLines(Path.Combine(output, "train_log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "eval")
            .Select(e => e.GetProperty("metrics").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetDouble()))];

    [SkippableFact]
    public void Train_on_two_ranks_logs_the_losses_and_scores_of_one_process_with_their_combined_batch()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        using var dir = new TempDir();
        // 45 examples: the last micro-batch of each epoch splits 3 + 2. Dropout is on (the model's 0.1).
        string[] common = ["train", "--data", Rows(dir, "train.csv", 45), "--eval", Rows(dir, "dev.csv", 24), "--model", TinyModel(dir),
            "--epochs", "2", "--max-length", "32", "--lr", "1e-3", "--logging-steps", "1", "--seed", "7"];
        string one = Path.Combine(dir.Root, "one"), two = Path.Combine(dir.Root, "two");
        var single = CliRunner.Run([.. common, "--batch-size", "8", "-o", one]);
        Assert.True(single.ExitCode == 0, single.Stderr);
        var job = MpiRun.Run(2, [.. common, "--batch-size", "4", "-o", two]);
        Assert.True(job.ExitCode == 0, job.Stdout + job.Stderr);
        Assert.Contains("data-parallel: 2 ranks × batch 4 × accumulation 1 = 8 examples per step", job.Stdout);
        Assert.Single(job.Stdout.Split('\n'), l => l.StartsWith("model saved to", StringComparison.Ordinal)); // rank 0 alone reports

        var expected = TrainLog(one);
        var actual = TrainLog(two);
        Assert.Equal(expected.Select(e => e.GetProperty("step").GetInt32()), actual.Select(e => e.GetProperty("step").GetInt32()));
        for (int i = 0; i < expected.Count; i++)
        {
            double want = expected[i].GetProperty("loss").GetDouble(), got = actual[i].GetProperty("loss").GetDouble();
            Assert.True(Math.Abs(want - got) <= 1e-4 * Math.Max(1, Math.Abs(want)), $"step {i + 1}: loss {want} in one process, {got} on two ranks");
        }
        // Every evaluation (each epoch's, the loss included) and the final report of the best model.
        var wantEvals = EvalMetrics(one);
        var gotEvals = EvalMetrics(two);
        Assert.Equal(2, wantEvals.Count);
        Assert.Equal(wantEvals.Count, gotEvals.Count);
        for (int i = 0; i < wantEvals.Count; i++)
        {
            Assert.Equal(wantEvals[i].Keys.Order(), gotEvals[i].Keys.Order());
            foreach (var (name, want) in wantEvals[i]) Assert.Equal(want, gotEvals[i][name], 4);
        }
        using var wantReport = JsonDocument.Parse(File.ReadAllText(Path.Combine(one, "eval_report.json")));
        using var gotReport = JsonDocument.Parse(File.ReadAllText(Path.Combine(two, "eval_report.json")));
        Assert.Equal(wantReport.RootElement.GetProperty("accuracy").GetDouble(), gotReport.RootElement.GetProperty("accuracy").GetDouble(), 4);
    }

    [SkippableFact]
    public void Eval_on_two_ranks_splits_every_batch_and_reports_what_one_process_reports()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        using var dir = new TempDir();
        string trained = Path.Combine(dir.Root, "trained"), dev = Rows(dir, "dev.csv", 23);
        var train = CliRunner.Run("train", "--data", Rows(dir, "train.csv", 40), "--model", TinyModel(dir), "--epochs", "1", "--max-length", "32",
            "--lr", "1e-3", "--validation-split", "0", "-o", trained);
        Assert.True(train.ExitCode == 0, train.Stderr);
        // Batches of 5 split 3 + 2 over the ranks, and the last batch (3 rows) 2 + 1.
        string[] eval = ["eval", "--model", trained, "--data", dev, "--batch-size", "5", "--json"];
        var single = CliRunner.Run(eval);
        Assert.True(single.ExitCode == 0, single.Stderr);
        var job = MpiRun.Run(2, eval);
        Assert.True(job.ExitCode == 0, job.Stdout + job.Stderr);
        using var want = JsonDocument.Parse(single.Stdout);
        using var got = JsonDocument.Parse(job.Stdout); // rank 0 alone prints: one JSON document
        Assert.Equal(23, got.RootElement.GetProperty("macro avg").GetProperty("support").GetDouble());
        foreach (var name in new[] { "accuracy", "roc_auc" })
            Assert.Equal(want.RootElement.GetProperty(name).GetDouble(), got.RootElement.GetProperty(name).GetDouble(), 6);
        Assert.Equal(want.RootElement.GetProperty("macro avg").GetProperty("f1-score").GetDouble(),
            got.RootElement.GetProperty("macro avg").GetProperty("f1-score").GetDouble(), 6);
        Assert.Equal(want.RootElement.GetProperty("confusion_matrix").ToString(), got.RootElement.GetProperty("confusion_matrix").ToString());
    }

    [SkippableFact]
    public void A_rank_killed_mid_training_ends_the_job_within_seconds_and_resume_finishes_it()
    {
        Skip.If(MpiRun.Launcher is null, "Open MPI's mpirun is not installed (apt-get install openmpi-bin)");
        using var dir = new TempDir();
        var output = Path.Combine(dir.Root, "run");
        // 2 × 250 steps of 8 examples, a checkpoint every 20: long enough that the kill lands mid-run.
        string[] args = ["train", "--data", Rows(dir, "train.csv", 2000), "--model", TinyModel(dir), "--validation-split", "0", "--epochs", "2",
            "--batch-size", "4", "--max-length", "32", "--save-steps", "20", "--logging-steps", "10", "-o", output];
        using (var job = Process.Start(MpiRun.StartInfo(2, args))!)
        {
            job.OutputDataReceived += (_, _) => { };
            job.ErrorDataReceived += (_, _) => { };
            job.BeginOutputReadLine();
            job.BeginErrorReadLine();
            int victim = WaitForChild(job.Id, TimeSpan.FromSeconds(60));
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (!(Directory.Exists(output) && Directory.EnumerateDirectories(output, "checkpoint-*").Any()))
            {
                Assert.True(DateTime.UtcNow < deadline, "no checkpoint was written");
                Assert.False(job.HasExited, "training ended before a rank could be killed");
                Thread.Sleep(20);
            }
            KillRankAndSeeTheJobEnd(job, victim);
        }
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")), "a job that lost a rank must not publish a model");

        var resumed = MpiRun.Run(2, [.. args, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Stdout + resumed.Stderr);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => i * 10), TrainLog(output).Select(e => e.GetProperty("step").GetInt32()));
    }

    /// <summary>Kills one rank and checks that mpirun ends the whole job, non-zero, within seconds.</summary>
    private static void KillRankAndSeeTheJobEnd(Process job, int victim)
    {
        var clock = Stopwatch.StartNew();
        Process.GetProcessById(victim).Kill();
        bool ended = job.WaitForExit(TimeSpan.FromSeconds(30));
        if (!ended) job.Kill(true);
        Assert.True(ended, "the job hung after one rank was killed");
        // The timed wait does not wait for the redirected output; this one returns once the async readers
        // have delivered all of it, so the caller's assertions on stderr see mpirun's last lines.
        job.WaitForExit();
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed.TotalSeconds:F1} s to end");
    }

    /// <summary>The pid of one of mpirun's dotnet children (the ranks), once both are up.</summary>
    private static int WaitForChild(int parent, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var children = new List<int>();
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
                try
                {
                    // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after the last ')'.
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    if (int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == parent) children.Add(pid);
                }
                catch (IOException)
                {
                    // The process ended while being read.
                }
            }
            if (children.Count == 2) return children.Max();
            Thread.Sleep(100);
        }
        throw new TimeoutException("mpirun did not start two ranks");
    }
}
