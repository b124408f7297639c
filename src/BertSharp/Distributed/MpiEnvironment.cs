namespace BertSharp.Distributed;

/// <summary>
/// Where this process sits in a job, read from the variables that launchers set: Open MPI's
/// <c>mpirun</c> (OMPI_COMM_WORLD_*), MPICH/Intel MPI's Hydra (PMI_*), Slurm's <c>srun</c> (SLURM_*).
/// Reading them needs no MPI library, so a process can tell it was launched as one of many before
/// loading one.
/// </summary>
public sealed record MpiEnvironment(int Rank, int Size, int LocalRank, int LocalSize, string Launcher)
{
    /// <summary>The launch described by this process's environment, or null when it was started on its own.</summary>
    public static MpiEnvironment? Current => Detect(Environment.GetEnvironmentVariable);

    /// <summary>The launch described by <paramref name="variable"/> (name → value or null).</summary>
    /// <exception cref="InvalidDataException">A launcher's variable is present but not a valid rank or size.</exception>
    public static MpiEnvironment? Detect(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        // Open MPI first: under `srun --mpi=pmix` Slurm's variables are set too, and Open MPI's are the ones MPI_Init will use.
        return Read(variable, "Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE")
            ?? Read(variable, "PMI", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")
            ?? Read(variable, "Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", null);
    }

    private static MpiEnvironment? Read(Func<string, string?> variable, string launcher, string rankName, string sizeName, string localRankName, string? localSizeName)
    {
        if (variable(rankName) is not { } rankText || variable(sizeName) is not { } sizeText) return null;
        int size = Parse(sizeText, sizeName, 1);
        int rank = Parse(rankText, rankName, 0);
        if (rank >= size) throw new InvalidDataException($"{rankName}={rank} is not below {sizeName}={size}");
        // Without the local counts, assume one process per machine: the cautious choice for thread counts is made elsewhere.
        int localRank = variable(localRankName) is { } lr ? Parse(lr, localRankName, 0) : 0;
        int localSize = localSizeName is not null && variable(localSizeName) is { } ls ? Parse(ls, localSizeName, 1) : 1;
        return new MpiEnvironment(rank, size, localRank, Math.Max(localSize, localRank + 1), launcher);
    }

    private static int Parse(string text, string name, int minimum)
    {
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) || value < minimum)
            throw new InvalidDataException($"{name}='{text}': expected a whole number ≥ {minimum}");
        return value;
    }
}
