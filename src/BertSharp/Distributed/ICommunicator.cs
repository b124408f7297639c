namespace BertSharp.Distributed;

/// <summary>
/// The collective operations data-parallel training and sharded inference need, over every process
/// of the job. <see cref="Communicator.Create"/> gives MPI's world under <c>mpirun</c> and a
/// single-process stand-in otherwise, so callers are written once for both.
/// </summary>
/// <remarks>
/// Every process must make the same calls in the same order (that is what a collective is); a process
/// that skips one leaves the others waiting. Calls are serialized: use one from one thread at a time.
/// </remarks>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's index, 0 … <see cref="Size"/> − 1.</summary>
    int Rank { get; }

    /// <summary>How many processes the job has.</summary>
    int Size { get; }

    /// <summary>Whether this is rank 0, the one that writes outputs, logs and checkpoints.</summary>
    bool IsRoot => Rank == 0;

    /// <summary>What carries the messages ("single process", or the MPI library's version line).</summary>
    string Description { get; }

    /// <summary>Replaces <paramref name="data"/> on every rank with the element-wise sum over all ranks.</summary>
    /// <remarks>Every rank must pass the same length.</remarks>
    void AllreduceSum(Span<float> data);

    /// <summary>Copies <paramref name="data"/> from rank <paramref name="root"/> to every other rank.</summary>
    /// <remarks>Every rank must pass the same length.</remarks>
    void Broadcast(Span<byte> data, int root = 0);

    /// <summary>Copies <paramref name="data"/> from rank <paramref name="root"/> to every other rank.</summary>
    /// <remarks>Every rank must pass the same length.</remarks>
    void Broadcast(Span<float> data, int root = 0);

    /// <summary>Collects every rank's bytes on rank <paramref name="root"/>, in rank order; lengths may differ.</summary>
    /// <returns>On the root, one array per rank; elsewhere null.</returns>
    byte[][]? Gather(ReadOnlySpan<byte> data, int root = 0);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Ends the whole job now, every rank, with <paramref name="exitCode"/>, after writing
    /// <paramref name="message"/> to stderr: the way out of an error on one rank while the others may be
    /// waiting in a collective (a normal exit would leave them waiting).
    /// </summary>
    void Abort(string message, int exitCode = 1);
}
