using System.Diagnostics;
using System.Runtime.InteropServices;
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
        var clock = Stopwatch.StartNew();
        Process.GetProcessById(victim).Kill();
        bool ended = job.WaitForExit(TimeSpan.FromSeconds(30));
        if (!ended) job.Kill(true);
        Assert.True(ended, "the job hung after one rank was killed");
        Assert.NotEqual(0, job.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed.TotalSeconds:F1} s to end");
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
