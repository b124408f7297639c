namespace BertSharp.Tests;

public class CliTests
{
    [Fact]
    public void UnknownCommandIsAUsageError()
    {
        var r = CliRunner.Run("no-such-command");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no-such-command", r.Stderr);
    }

    [Fact]
    public void VersionPrintsTheRuntime()
    {
        var r = CliRunner.Run("version");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("bertsharp ", r.Stdout);
        Assert.Contains("compute: managed", r.Stdout);
        var hidden = CliRunner.RunWithEnvironment(new Dictionary<string, string> { ["BERTSHARP_DNNL"] = "none" }, "version");
        Assert.Contains("--bf16: OneDnnBf16 (unavailable: oneDNN disabled by BERTSHARP_DNNL=none)", hidden.Stdout);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("pretrain")]
    [InlineData("eval")]
    [InlineData("predict")]
    [InlineData("fill-mask")]
    [InlineData("bias-probe")]
    [InlineData("export-onnx")]
    [InlineData("distributed-check")]
    public void HelpNamesTheToolAndEveryCommandThatWritesTakesDashO(string command)
    {
        var r = CliRunner.Run(command, "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"Usage:\n  bertsharp {command} [", r.Stdout.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("-o, --output", r.Stdout, StringComparison.Ordinal);
    }
}
