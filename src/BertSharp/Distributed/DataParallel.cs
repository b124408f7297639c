namespace BertSharp.Distributed;

/// <summary>
/// Which examples each rank trains on. The trainer walks the same global order as one process would,
/// in micro-batches of <c>per-rank batch × ranks</c> examples (so a global batch, one optimizer step,
/// is <c>per-rank batch × ranks × accumulation</c>); each rank takes one contiguous slice of every
/// micro-batch, rank 0 first, so the slices of ranks 0 … N − 1 laid end to end are the micro-batch.
/// </summary>
/// <remarks>
/// Gradients averaged over ranks equal one process's gradient over the whole micro-batch only if
/// every rank's loss is weighted by its share: a rank's <see cref="Shard.Weight"/> is
/// <c>count × ranks / micro-batch</c> (1 for full micro-batches), so that after
/// <see cref="GradientAverager"/> divides the sum by the ranks, each example counts once, also in an
/// epoch's last, short micro-batch, where some ranks may get no example at all (weight 0, but they
/// still take part in the all-reduce).
/// </remarks>
public sealed class DataParallel
{
    /// <summary>Plans the sharding for <paramref name="communicator"/>'s ranks.</summary>
    /// <param name="communicator">The job.</param>
    /// <param name="perRankBatchSize">Examples each rank runs through the model at once.</param>
    /// <param name="gradientAccumulationSteps">Micro-batches per optimizer step.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size below 1.</exception>
    public DataParallel(ICommunicator communicator, int perRankBatchSize, int gradientAccumulationSteps = 1)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentOutOfRangeException.ThrowIfLessThan(perRankBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(gradientAccumulationSteps, 1);
        Communicator = communicator;
        PerRankBatchSize = perRankBatchSize;
        GradientAccumulationSteps = gradientAccumulationSteps;
    }

    /// <summary>The job.</summary>
    public ICommunicator Communicator { get; }

    /// <summary>Examples each rank runs at once.</summary>
    public int PerRankBatchSize { get; }

    /// <summary>Micro-batches per optimizer step.</summary>
    public int GradientAccumulationSteps { get; }

    /// <summary>Examples in one micro-batch over all ranks: what one process would run as its batch.</summary>
    public int MicroBatchSize => PerRankBatchSize * Communicator.Size;

    /// <summary>Examples per optimizer step: per-rank batch × ranks × accumulation.</summary>
    public int GlobalBatchSize => MicroBatchSize * GradientAccumulationSteps;

    /// <summary>Micro-batches in an epoch of <paramref name="examples"/> examples (the last may be short).</summary>
    public int MicroBatchesPerEpoch(int examples)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(examples);
        return (examples + MicroBatchSize - 1) / MicroBatchSize;
    }

    /// <summary>
    /// This rank's part of micro-batch <paramref name="microBatch"/> of an epoch of
    /// <paramref name="examples"/> examples: positions in the epoch's order (the example indices one
    /// process would visit), and the loss weight.
    /// </summary>
    public Shard Local(int microBatch, int examples) => Split(microBatch, examples, Communicator.Rank, Communicator.Size, MicroBatchSize);

    /// <summary>
    /// Rank <paramref name="rank"/> of <paramref name="ranks"/>'s part of micro-batch
    /// <paramref name="microBatch"/> (of <paramref name="microBatchSize"/> examples over all ranks) in an
    /// epoch of <paramref name="examples"/> examples: positions in the epoch's order, and the loss weight.
    /// </summary>
    public static Shard Split(int microBatch, int examples, int rank, int ranks, int microBatchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)rank, (uint)ranks, nameof(rank));
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchSize, ranks);
        ArgumentOutOfRangeException.ThrowIfNegative(microBatch);
        long first = (long)microBatch * microBatchSize;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(first, examples, nameof(microBatch));
        int count = (int)Math.Min(microBatchSize, examples - first);
        var (start, length) = Even(count, rank, ranks);
        float weight = (float)((double)length * ranks / count);
        return new Shard((int)first + start, length, weight);
    }

    /// <summary>Rank <paramref name="rank"/>'s contiguous share of <paramref name="count"/> items split over <paramref name="ranks"/>: the first <c>count mod ranks</c> ranks get one more.</summary>
    public static (int Start, int Count) Even(int count, int rank, int ranks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)rank, (uint)ranks, nameof(rank));
        int quotient = count / ranks, remainder = count % ranks;
        return (rank * quotient + Math.Min(rank, remainder), quotient + (rank < remainder ? 1 : 0));
    }

    /// <summary>Copies rank 0's values into every rank's buffers: all ranks start from the same weights.</summary>
    public void BroadcastFromRoot(IReadOnlyList<float[]> buffers)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        foreach (var b in buffers) Communicator.Broadcast(b.AsSpan(), 0);
    }

    /// <summary>Whether rank 0 says so, on every rank (for decisions only rank 0 can make, such as early stopping after its evaluation).</summary>
    public bool AgreeWithRoot(bool value)
    {
        Span<byte> flag = [value ? (byte)1 : (byte)0];
        Communicator.Broadcast(flag, 0);
        return flag[0] != 0;
    }
}

/// <summary>One rank's part of a micro-batch.</summary>
/// <param name="Start">Its first position in the epoch's order.</param>
/// <param name="Count">How many examples (0 when a short micro-batch has fewer examples than ranks).</param>
/// <param name="Weight">What to multiply this rank's mean loss by before gradients are averaged over ranks.</param>
public readonly record struct Shard(int Start, int Count, float Weight);
