using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace BertSharp.Tests.Server;

/// <summary>The CLI as a user runs it: <c>bertsharp serve</c> as a child process, and <c>--runtime onnx</c> in predict and eval.</summary>
[Collection(ServedModel.Collection)]
public sealed partial class ServeCommandTests(ServedModel model)
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private const int SigTerm = 15;

    // `bertsharp serve` on the fixture's model and any free port: its output as it comes, and the address it prints
    // once the model has loaded (long after the handler is attached).
    private (System.Diagnostics.Process Process, StringBuilder Stdout, Task<string> Address) Serve(params string[] options)
    {
        var process = CliRunner.Start(["serve", "--model", model.Directory, "--urls", "http://127.0.0.1:0", .. options]);
        var stdout = new StringBuilder();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            var at = e.Data.IndexOf(" on http://", StringComparison.Ordinal);
            if (at >= 0) address.TrySetResult(e.Data[(at + 4)..].Split(' ')[0]);
        };
        return (process, stdout, address.Task);
    }

    [Fact]
    public async Task ServeAnswersOnTheAddressItPrintsAndStopsCleanlyOnSigterm()
    {
        var (process, stdout, address) = Serve("--runtime", "onnx", "--api-key", "k3y", "--rate-limit", "1", "--rate-limit-burst", "3");
        using var disposeProcess = process;
        try
        {
            var url = await address.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Contains($"serving questions (onnx, BertForSequenceClassification, 2 labels, {Environment.ProcessorCount} threads)", stdout.ToString());
            Assert.Contains("(authentication on: API key required on /v1/* and /metrics)", stdout.ToString());
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            client.DefaultRequestHeaders.Add("X-API-Key", "k3y");
            using var r = await client.PostAsync("/v1/classify", new StringContent("{\"texts\": [\"where is the eiffel tower ?\", \"a charming , funny film .\"]}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var predictions = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions");
            Assert.Equal("question", predictions[0].GetProperty("label").GetString());
            Assert.Equal("review", predictions[1].GetProperty("label").GetString());
            // --rate-limit reaches the server: after the classify, two of the bucket's three requests are left,
            // and it refills by one a second, far slower than 60 requests at once arrive.
            var statuses = await Task.WhenAll(Enumerable.Range(0, 60).Select(async _ =>
            {
                using var t = await client.PostAsync("/v1/tokenize", new StringContent("{\"text\": \"hi\"}", Encoding.UTF8, "application/json"));
                return (int)t.StatusCode;
            }));
            Assert.True(statuses.All(s => s is 200 or 429) && statuses.Count(s => s == 200) >= 2 && statuses.Count(s => s == 429) >= 30, string.Join(",", statuses));

            Assert.Equal(0, Kill(process.Id, SigTerm));
            Assert.True(process.WaitForExit(30_000), "serve did not stop on SIGTERM");
            process.WaitForExit(); // and its output has been read to the end
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("stopping", stdout.ToString());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task ServeThreadsOneKeepsTheManagedEncoderOnOneThread()
    {
        var (process, stdout, address) = Serve("--threads", "1");
        using var disposeProcess = process;
        try
        {
            var url = await address.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Contains("2 labels, 1 thread)", stdout.ToString());
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            // Batches of 256 texts at the model's full length: products large enough that two threads would split them.
            var texts = Enumerable.Repeat(string.Join(' ', model.HeldOut.Select(e => e.Text)), 256).ToArray();
            for (int i = 0; i < 8; i++)
            {
                using var r = await client.PostAsync("/v1/classify", new StringContent(JsonSerializer.Serialize(new { texts }), Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            }
            // The pool's helper threads (one per further core) never ran a task: their CPU time (schedstat's first
            // field, in ns) is the spin they do once at start-up, where on two threads they would share the batches.
            var helpers = Directory.GetDirectories($"/proc/{process.Id}/task")
                .Where(t => File.ReadAllText(Path.Combine(t, "comm")).StartsWith("BertSharp tenso", StringComparison.Ordinal))
                .Select(t => long.Parse(File.ReadAllText(Path.Combine(t, "schedstat")).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture))
                .ToList();
            Assert.Equal(Environment.ProcessorCount - 1, helpers.Count);
            Assert.All(helpers, ns => Assert.True(ns < 20_000_000, $"a helper thread ran {ns / 1e6:F1} ms"));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void ServeRefusesBadOptionsWithOneLine()
    {
        var r = CliRunner.Run("serve", "--model", model.Directory, "--max-batch-size", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("max batch size 0", r.Stderr);
        r = CliRunner.Run("serve", "--model", model.Directory, "--runtime", "tensorrt");
        Assert.Equal(2, r.ExitCode);
        var noOnnx = Path.Combine(Path.GetTempPath(), "bertsharp-no-onnx-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(noOnnx);
            foreach (var f in Directory.GetFiles(model.Directory).Where(f => !f.EndsWith(".onnx", StringComparison.Ordinal)))
                File.Copy(f, Path.Combine(noOnnx, Path.GetFileName(f)));
            r = CliRunner.Run("predict", "--model", noOnnx, "--runtime", "onnx", "who ?");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("bertsharp export-onnx --model", r.Stderr);
        }
        finally
        {
            Directory.Delete(noOnnx, recursive: true);
        }
    }

    [Fact]
    public void PredictAndEvalOnOnnxMatchTheManagedRuntime()
    {
        var texts = model.HeldOut.Take(10).Select(e => e.Text).ToArray();
        var managed = CliRunner.Run(["predict", "--model", model.Directory, "--json", "--top-k", "0", .. texts]);
        var onnx = CliRunner.Run(["predict", "--model", model.Directory, "--json", "--top-k", "0", "--runtime", "onnx", .. texts]);
        Assert.True(managed.ExitCode == 0, managed.Stderr);
        Assert.True(onnx.ExitCode == 0, onnx.Stderr);
        var a = managed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var b = onnx.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(texts.Length, a.Length);
        Assert.Equal(texts.Length, b.Length);
        for (int i = 0; i < texts.Length; i++)
        {
            var x = JsonDocument.Parse(a[i]).RootElement.GetProperty("scores");
            var y = JsonDocument.Parse(b[i]).RootElement.GetProperty("scores");
            foreach (var label in new[] { "question", "review" })
                Assert.True(Math.Abs(x.GetProperty(label).GetSingle() - y.GetProperty(label).GetSingle()) <= 1e-4, $"{texts[i]}: {a[i]} vs {b[i]}");
        }

        var data = Path.Combine(Path.GetTempPath(), "bertsharp-eval-" + Guid.NewGuid().ToString("N") + ".csv");
        try
        {
            File.WriteAllLines(data, ["text,label", .. model.HeldOut.Select(e => $"\"{e.Text.Replace("\"", "\"\"")}\",{e.Label}")]);
            var evalManaged = CliRunner.Run("eval", "--model", model.Directory, "--data", data, "--json");
            var evalOnnx = CliRunner.Run("eval", "--model", model.Directory, "--data", data, "--json", "--runtime", "onnx");
            Assert.True(evalOnnx.ExitCode == 0, evalOnnx.Stderr);
            var accuracy = JsonDocument.Parse(evalOnnx.Stdout).RootElement.GetProperty("accuracy").GetDouble();
            Assert.Equal(JsonDocument.Parse(evalManaged.Stdout).RootElement.GetProperty("accuracy").GetDouble(), accuracy);
            Assert.True(accuracy >= 0.9, $"accuracy {accuracy} on the held-out questions and reviews");
        }
        finally
        {
            File.Delete(data);
        }
    }
}
