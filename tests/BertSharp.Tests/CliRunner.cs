using System.Diagnostics;

namespace BertSharp.Tests;

/// <summary>Runs the built <c>bertsharp</c> command as a child process, as a user would.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithInput(null, args);

    public static Result RunWithInput(string? stdin, params string[] args) => Run(stdin, new Dictionary<string, string>(), args);

    /// <summary>Runs with extra environment variables (BERTSHARP_DNNL=none hides oneDNN, say).</summary>
    public static Result RunWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args) => Run(null, environment, args);

    private static Result Run(string? stdin, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        psi.ArgumentList.Add(CliPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(10))) { p.Kill(true); throw new TimeoutException("bertsharp did not exit"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the command without waiting, for tests that interrupt or kill it.</summary>
    public static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(CliPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>The built command's dll, for tests that start it under another launcher (mpirun).</summary>
    internal static string CliPath { get; } = FindCli();

    private static string FindCli()
    {
        // tests/BertSharp.Tests/bin/<Configuration>/net10.0 → src/BertSharp.Cli/bin/<Configuration>/net10.0
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory);
        var tfm = baseDir.Name;
        var configuration = baseDir.Parent!.Name;
        var repo = baseDir.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var path = System.IO.Path.Combine(repo, "src", "BertSharp.Cli", "bin", configuration, tfm, "BertSharp.Cli.dll");
        if (!File.Exists(path)) throw new FileNotFoundException("the bertsharp CLI was not built", path);
        return path;
    }
}
