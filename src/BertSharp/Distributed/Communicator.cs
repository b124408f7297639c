namespace BertSharp.Distributed;

/// <summary>How a command decides whether it is one process of many.</summary>
public enum DistributedMode
{
    /// <summary>MPI when the environment says a launcher started several processes, else one process.</summary>
    Auto,

    /// <summary>Always MPI (a job of one under plain <c>bertsharp</c>); fails clearly when no MPI library loads.</summary>
    Mpi,

    /// <summary>One process, whatever the environment says.</summary>
    None,
}

/// <summary>Creates the communicator a process should use.</summary>
public static class Communicator
{
    /// <summary>MPI's world when launched by <c>mpirun</c>/<c>srun</c> with more than one process (or when <paramref name="mode"/> asks for MPI), else a <see cref="LocalCommunicator"/>.</summary>
    /// <exception cref="NotSupportedException">MPI is needed but no usable Open MPI library loads; the message says what to install.</exception>
    public static ICommunicator Create(DistributedMode mode = DistributedMode.Auto)
    {
        var environment = MpiEnvironment.Current;
        bool mpi = mode switch
        {
            DistributedMode.Mpi => true,
            DistributedMode.None => false,
            _ => environment is { Size: > 1 },
        };
        return mpi ? MpiCommunicator.Initialize(environment) : new LocalCommunicator();
    }

    /// <summary>Parses "auto", "mpi" or "none" (any case).</summary>
    /// <exception cref="ArgumentException">Anything else.</exception>
    public static DistributedMode ParseMode(string text) => text.ToLowerInvariant() switch
    {
        "auto" => DistributedMode.Auto,
        "mpi" => DistributedMode.Mpi,
        "none" => DistributedMode.None,
        _ => throw new ArgumentException($"--distributed {text}: expected auto, mpi or none"),
    };
}
