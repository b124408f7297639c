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
}
