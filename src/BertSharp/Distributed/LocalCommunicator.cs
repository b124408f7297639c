namespace BertSharp.Distributed;

/// <summary>The job of one process: every collective is the identity, so code written for N ranks runs unchanged.</summary>
public sealed class LocalCommunicator : ICommunicator
{
    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public string Description => "single process";

    /// <inheritdoc/>
    public void AllreduceSum(Span<float> data) { }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> data, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public void Broadcast(Span<float> data, int root = 0) => CheckRoot(root);

    /// <inheritdoc/>
    public byte[][]? Gather(ReadOnlySpan<byte> data, int root = 0)
    {
        CheckRoot(root);
        return [data.ToArray()];
    }

    /// <inheritdoc/>
    public void Barrier() { }

    /// <inheritdoc/>
    public void Abort(string message, int exitCode = 1)
    {
        Console.Error.WriteLine(message);
        Environment.Exit(exitCode);
    }

    /// <inheritdoc/>
    public void Dispose() { }

    private static void CheckRoot(int root) => ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
}
