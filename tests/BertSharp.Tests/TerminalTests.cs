using System.Diagnostics;
using System.Text.RegularExpressions;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tests.IO;

namespace BertSharp.Tests;

/// <summary>
/// The CLI in a real terminal: `train` and hub downloads run inside a detached tmux session (a pseudo-terminal, so the
/// live progress bars are drawn) and the test reads back the whole screen and scroll-back as a user would see it.
/// </summary>
public sealed partial class TerminalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-terminal-").FullName;
    private readonly string _socket = $"bertsharp-test-{Environment.ProcessId}-{Guid.NewGuid():N}";

    public void Dispose()
    {
        Tmux("kill-server");
        Directory.Delete(_dir, recursive: true);
    }

    [SkippableFact]
    public void TheProgressBarKeepsEveryEvaluationLineOnTheScreen()
    {
        var (screen, exitCode) = TrainInTerminal(epochs: 3, interruptAfterFirstEvaluation: false);
        Assert.Equal(0, exitCode);
        var lines = Lines(screen);
        // Each epoch's evaluation line whole, at the start of its own line, not overdrawn by the bar.
        foreach (var epoch in new[] { "1.00", "2.00", "3.00" })
            Assert.True(lines.Any(l => EvalLine().IsMatch(l) && l.Contains($" epoch {epoch}: ", StringComparison.Ordinal)),
                $"no whole evaluation line for epoch {epoch} on the screen:\n{screen}");
        Assert.Contains(lines, l => l.StartsWith("model saved to ", StringComparison.Ordinal));
        // The bar was drawn (the run was interactive) and shows the learning rate as Python prints it.
        Assert.Matches(@"lr \d(\.\d+)?e-0\d", screen);
    }

    [SkippableFact]
    public void CtrlCNoticeStaysOnTheScreenBesideTheBar()
    {
        var (screen, exitCode) = TrainInTerminal(epochs: 200, interruptAfterFirstEvaluation: true);
        Assert.Equal(130, exitCode); // 128 + SIGINT, as a shell reports an interrupted command
        var lines = Lines(screen);
        Assert.Contains(lines, l => l.StartsWith("bertsharp: interrupted; saving a checkpoint at the next step", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("stopped at step ", StringComparison.Ordinal));
        Assert.Contains(lines, l => EvalLine().IsMatch(l));
    }

    [SkippableFact]
    public void AHubDownloadShowsEachFileDoneOnATerminalAndNothingOnARedirectedStderr()
    {
        const string Main = "1111111111111111111111111111111111111111", Tag = "3333333333333333333333333333333333333333";
        var files = Path.Combine(_dir, "hub");
        TinyModel.Model(labels: 2).Save(files);
        using var hub = new HubDownloadTests.LocalHub("org/tiny", new() { ["main"] = (Main, files), ["v2"] = (Tag, files) });
        // This hub and a cache of the test's own, whatever the environment running the tests says.
        Dictionary<string, string> HubEnvironment(string cache) => new()
        {
            ["HF_ENDPOINT"] = hub.Endpoint,
            ["BERTSHARP_CACHE"] = Path.Combine(_dir, cache),
            ["HF_HUB_OFFLINE"] = "",
            ["HF_TOKEN"] = "",
        };

        var (screen, exitCode) = InTerminal("embed --model org/tiny --revision v2 'the film'", HubEnvironment("terminal"));
        Assert.True(exitCode == 0, screen);
        // One finished row per file: its name first, then a full bar's 100%.
        foreach (var file in new[] { "tokenizer_config.json", "config.json", "vocab.txt", "model.safetensors" })
            Assert.True(Lines(screen).Any(l => l.StartsWith(file + " ", StringComparison.Ordinal) && l.Contains(" 100% ", StringComparison.Ordinal)),
                $"no finished row for {file} on the screen:\n{screen}");
        var snapshot = Path.Combine(_dir, "terminal", "models--org--tiny", "snapshots", Tag);
        Assert.True(File.Exists(Path.Combine(snapshot, "model.safetensors")));
        Assert.Equal(Tag, File.ReadAllText(Path.Combine(_dir, "terminal", "models--org--tiny", "refs", "v2")));

        // Found in the cache, the model draws no display, not even the blank lines of an empty one: the embedding comes first.
        KillServer();
        (screen, exitCode) = InTerminal("embed --model org/tiny --revision v2 'the film'", HubEnvironment("terminal"));
        Assert.True(exitCode == 0, screen);
        Assert.Matches(@"^-?\d", screen);

        var redirected = CliRunner.RunWithEnvironment(HubEnvironment("redirected"), "embed", "--model", "org/tiny", "--revision", "v2", "the film");
        Assert.True(redirected.ExitCode == 0, redirected.Stderr);
        Assert.Equal("", redirected.Stderr);
        Assert.True(File.Exists(Path.Combine(_dir, "redirected", "models--org--tiny", "snapshots", Tag, "model.safetensors")));
    }

    // Runs `train` on a tiny random model in a 160 × 40 tmux pane; returns the pane's screen and scroll-back and the exit code.
    private (string Screen, int ExitCode) TrainInTerminal(int epochs, bool interruptAfterFirstEvaluation)
    {
        var model = Path.Combine(_dir, "tiny");
        var config = new BertConfig { HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        HfDirectory.Save(model, config, BertModel.CreateRandom(config, seed: 3).ToStateDict(), () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true, modelMaxLength: 64);
        string train = Path.Combine(_dir, "train.csv"), eval = Path.Combine(_dir, "dev.csv");
        File.WriteAllLines(train, File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).Take(49));
        File.WriteAllLines(eval, File.ReadLines(TestData.Path("sentence-polarity", "dev.csv")).Take(41));
        return InTerminal($"train --model '{model}' --data '{train}' --eval '{eval}' --epochs {epochs} --max-length 32 --logging-steps 1 " +
            $"-o '{Path.Combine(_dir, "out")}'", environment: new Dictionary<string, string>(), interruptOnScreen: interruptAfterFirstEvaluation ? "eval  step" : null);
    }

    // Runs `bertsharp <arguments>` with `environment` set in a 160 × 40 tmux pane, sending Ctrl-C once `interruptOnScreen`
    // shows; returns the pane's screen and scroll-back and the exit code.
    private (string Screen, int ExitCode) InTerminal(string arguments, IReadOnlyDictionary<string, string> environment, string? interruptOnScreen = null)
    {
        Skip.If(Tmux("-V").ExitCode != 0, "tmux is not installed (.ci/run installs it)");
        string exit = Path.Combine(_dir, "exit");
        File.Delete(exit);
        // The shell stays after the run (sleep) so the pane can still be read; Dispose kills the server.
        // Given on the command line, as CliRunner gives it to its process: the test run's own environment stays as it is.
        string command = $"env {string.Join(' ', environment.Select(e => $"'{e.Key}={e.Value}'"))} dotnet '{CliRunner.CliPath}' {arguments}; echo $? > '{exit}'; sleep 300";
        Assert.Equal(0, Tmux("new-session", "-d", "-x", "160", "-y", "40", command).ExitCode);
        var deadline = DateTime.UtcNow.AddMinutes(5);
        if (interruptOnScreen is not null)
        {
            while (!File.Exists(exit) && DateTime.UtcNow < deadline && !Tmux("capture-pane", "-p", "-S", "-").Stdout.Contains(interruptOnScreen, StringComparison.Ordinal))
                Thread.Sleep(250);
            Tmux("send-keys", "C-c");
        }
        while (!File.Exists(exit) && DateTime.UtcNow < deadline) Thread.Sleep(250);
        Assert.True(File.Exists(exit), $"bertsharp {arguments.Split(' ')[0]} did not finish in the terminal within 5 minutes");
        return (Tmux("capture-pane", "-p", "-S", "-").Stdout, int.Parse(File.ReadAllText(exit).Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    // kill-server returns before the server has gone; a new-session sent meanwhile reaches the dying server and
    // fails (exit 1), so wait until no server answers on the socket.
    private void KillServer()
    {
        Tmux("kill-server");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Tmux("list-sessions").ExitCode == 0 && DateTime.UtcNow < deadline) Thread.Sleep(50);
    }

    private static List<string> Lines(string screen) => [.. screen.Split('\n').Select(l => l.TrimEnd())];

    [GeneratedRegex(@"^eval  step \d+ epoch \d\.\d\d: loss \d+\.\d{4}, accuracy \d\.\d{4}, .*roc_auc \d\.\d{4}$")]
    private static partial Regex EvalLine();

    private (int ExitCode, string Stdout) Tmux(params string[] args)
    {
        var psi = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-L");
        psi.ArgumentList.Add(_socket);
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (-1, "");
        }
    }
}
