using System.CommandLine;
using System.Text;
using BertSharp.Distributed;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary>
/// <c>--distributed auto|mpi|none</c> and the frame every MPI-aware command runs in: one communicator
/// per process, each rank's share of the cores, and an error on one rank ending the whole job.
/// </summary>
internal static class DistributedOption
{
    public static Option<string> Create() => new("--distributed")
    {
        Description = "auto: MPI when launched by mpirun/srun with several processes; mpi: always; none: never",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>Runs <paramref name="body"/> with the job's communicator and finalizes MPI after it.</summary>
    public static int Run(ParseResult parse, Option<string> option, Func<ICommunicator, int> body)
    {
        var communicator = Communicator.Create(Communicator.ParseMode(parse.GetValue(option)!));
        if (communicator.Size > 1 && MpiEnvironment.Current is { LocalSize: > 1 } here
            && Environment.GetEnvironmentVariable("DOTNET_PROCESSOR_COUNT") is null)
        {
            // Ranks on one machine share its cores; each taking all of them would oversubscribe it.
            Gemm.MaxThreads = Math.Max(1, Environment.ProcessorCount / here.LocalSize);
        }
        int code;
        try
        {
            code = body(communicator);
        }
        catch (Exception e) when (communicator.Size > 1)
        {
            // Returning would finalize MPI, which waits for ranks that may be waiting for this one.
            communicator.Abort(e.Message, 1);
            throw;
        }
        communicator.Dispose();
        return code;
    }

    /// <summary>
    /// Which items of <paramref name="count"/> this process handles: part i of N with <c>--shard i/N</c>,
    /// this rank's contiguous share under MPI, else all.
    /// </summary>
    public static (int Start, int Length) Part(string? shard, ICommunicator communicator, int count)
    {
        if (shard is null) return DataParallel.Even(count, communicator.Rank, communicator.Size);
        var spec = ShardSpec.Parse(shard);
        if (communicator.Size > 1)
            throw new ArgumentException($"--shard {spec} under an MPI job of {communicator.Size} ranks: the ranks already split the input; give one or the other");
        return spec.Of(count);
    }

    /// <summary>Every rank's <paramref name="text"/> joined in rank order on rank 0; null on the other ranks.</summary>
    public static string? GatherOnRoot(ICommunicator communicator, string text)
    {
        if (communicator.Size == 1) return text;
        var parts = communicator.Gather(Encoding.UTF8.GetBytes(text));
        return parts is null ? null : string.Concat(parts.Select(p => Encoding.UTF8.GetString(p)));
    }
}
