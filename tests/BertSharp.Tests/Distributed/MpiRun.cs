using System.Diagnostics;

namespace BertSharp.Tests.Distributed;

/// <summary>Starts the built <c>bertsharp</c> under Open MPI's <c>mpirun</c> on this machine (loopback).</summary>
internal static class MpiRun
{
    /// <summary>mpirun's path, or null when Open MPI is not installed (CI installs openmpi-bin).</summary>
    public static string? Launcher { get; } = new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists);

    public static ProcessStartInfo StartInfo(int ranks, params string[] args)
    {
        var psi = new ProcessStartInfo(Launcher ?? throw new InvalidOperationException("no mpirun"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Tests run as root in CI; one core per rank keeps two ranks from fighting over two cores.
        foreach (var a in new[] { "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe", "--allow-run-as-root", "-x", "DOTNET_PROCESSOR_COUNT=1", "dotnet", CliRunner.CliPath })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static CliRunner.Result Run(int ranks, params string[] args)
    {
        using var p = Process.Start(StartInfo(ranks, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("mpirun did not exit"); }
        return new CliRunner.Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
