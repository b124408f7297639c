using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary>
/// <c>bertsharp distributed-check</c>: proves that the ranks of an MPI job reach each other and that
/// the collectives training uses give the right answers, before a long job relies on them.
/// </summary>
internal static class DistributedCheckCommand
{
    private static void Write(string path, float[] values) => AtomicFile.Write(path, s => s.Write(MemoryMarshal.AsBytes(values.AsSpan())));

    public static Command Create()
    {
        var floats = new Option<int>("--floats") { Description = "Length of the vector to all-reduce", DefaultValueFactory = _ => 1 << 20 };
        var repeat = new Option<int>("--repeat") { Description = "Timed all-reduces after the checked one", DefaultValueFactory = _ => 10 };
        var output = new Option<string?>("--output", "-o") { Description = "Write each rank's input and results here (rank{r}.input.f32, .sum.f32, .bcast.f32; gather.txt)" };
        var distributed = DistributedOption.Create();
        var command = new Command("distributed-check", """
            Check an MPI job: every rank all-reduces a vector of random numbers, rank 0 broadcasts one and
            gathers a line from each; rank 0 compares the results with sums it computes itself, and times
            the all-reduce.

            Example:
              mpirun -np 2 -x DOTNET_PROCESSOR_COUNT=1 bertsharp distributed-check
            """);
        foreach (var o in new Option[] { floats, repeat, output, distributed }) command.Options.Add(o);
        command.SetAction(parse => DistributedOption.Run(parse, distributed, communicator =>
        {
            int n = parse.GetValue(floats), times = parse.GetValue(repeat);
            if (n < 1) throw new ArgumentException($"--floats {n}: must be ≥ 1");
            if (times < 0) throw new ArgumentException($"--repeat {times}: must be ≥ 0");
            var directory = parse.GetValue(output);
            if (directory is not null) Directory.CreateDirectory(directory);
            int rank = communicator.Rank, size = communicator.Size;

            var random = new Random(1000 + rank);
            var input = new float[n];
            for (int i = 0; i < n; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
            var sum = (float[])input.Clone();
            communicator.AllreduceSum(sum);
            var broadcast = (float[])input.Clone();
            communicator.Broadcast(broadcast.AsSpan(), 0);
            var gathered = communicator.Gather(System.Text.Encoding.UTF8.GetBytes(new string('*', rank) + $"rank {rank} of {size}"));

            // Rank 0 checks the sum from every rank's input, sent to it in full (a second path through MPI).
            var inputs = communicator.Gather(MemoryMarshal.AsBytes(input.AsSpan()));
            var sums = communicator.Gather(MemoryMarshal.AsBytes(sum.AsSpan()));
            if (directory is not null)
            {
                Write(Path.Combine(directory, $"rank{rank}.input.f32"), input);
                Write(Path.Combine(directory, $"rank{rank}.sum.f32"), sum);
                Write(Path.Combine(directory, $"rank{rank}.bcast.f32"), broadcast);
            }
            double worst = 0;
            bool identical = true;
            if (rank == 0)
            {
                var parts = inputs!.Select(b => MemoryMarshal.Cast<byte, float>(b).ToArray()).ToArray();
                for (int i = 0; i < n; i++)
                {
                    double exact = 0, magnitude = 0;
                    foreach (var p in parts) { exact += p[i]; magnitude += Math.Abs(p[i]); }
                    worst = Math.Max(worst, Math.Abs(sum[i] - exact) / Math.Max(magnitude, 1e-30));
                }
                var first = sums![0];
                identical = sums.All(s => s.AsSpan().SequenceEqual(first));
                if (directory is not null) AtomicFile.WriteAllText(Path.Combine(directory, "gather.txt"), string.Join('\n', gathered!.Select(g => System.Text.Encoding.UTF8.GetString(g))) + "\n");
            }

            var buffer = new float[n];
            communicator.Barrier();
            var clock = Stopwatch.StartNew();
            for (int t = 0; t < times; t++)
            {
                input.CopyTo(buffer, 0);
                communicator.AllreduceSum(buffer);
            }
            double seconds = clock.Elapsed.TotalSeconds / Math.Max(1, times);
            if (rank != 0) return 0;
            // Each rank's error bound: n-1 roundings of partial sums, each at most 2^-24 of the running magnitude.
            double bound = size * Math.Pow(2, -24);
            bool ok = worst <= bound && identical;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{size} rank(s) over {communicator.Description}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"all-reduce of {n} floats: largest relative error {worst:E2} (bound {bound:E2}), same result on every rank: {(identical ? "yes" : "NO")}"));
            if (times > 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"all-reduce time: {seconds * 1e3:F3} ms for {n * 4.0 / 1e6:F1} MB ({n * 4.0 / seconds / 1e9:F2} GB/s of vector per second)"));
            if (!ok) Console.Error.WriteLine("bertsharp: distributed-check FAILED");
            return ok ? 0 : 1;
        }));
        return command;
    }
}
