using System.Diagnostics;
using System.Numerics.Tensors;

namespace BertSharp.Distributed;

/// <summary>
/// Averages gradient buffers over all ranks with MPI_Allreduce, in buckets of about
/// <c>bucketBytes</c>, so a caller can hand over each gradient as backward finishes it and the
/// reduction of the last layers runs while earlier ones are still being computed (PyTorch DDP's
/// scheme): fewer, larger messages than one per tensor, and less waiting at the end than one message
/// for all.
/// </summary>
/// <remarks>
/// Buckets are formed from the last buffer to the first, the order backward produces them in, and
/// are reduced strictly in that order on every rank, whatever order <see cref="MarkReady"/> comes in,
/// so the ranks' collectives always match. Each step: <see cref="MarkReady"/> for the buffers as they
/// become final (optional), then <see cref="Finish"/>, which reduces whatever is left.
/// </remarks>
public sealed class GradientAverager
{
    /// <summary>PyTorch DDP's default bucket size.</summary>
    public const int DefaultBucketBytes = 25 << 20;

    private readonly ICommunicator _communicator;
    private readonly IReadOnlyList<float[]> _gradients;
    private readonly int[][] _buckets;       // bucket → gradient indices
    private readonly int[] _bucketOf;        // gradient index → bucket
    private readonly int[] _ready;           // bucket → gradients marked this step
    private readonly bool[] _marked;
    private readonly float[] _flat;          // one staging buffer, as large as the largest multi-gradient bucket
    private int _next;                       // the first bucket not yet reduced this step
    private long _reduceTicks;

    /// <summary>Plans the buckets over <paramref name="gradients"/> (kept by reference: the same arrays every step).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bucketBytes"/> is below 4.</exception>
    public GradientAverager(ICommunicator communicator, IReadOnlyList<float[]> gradients, int bucketBytes = DefaultBucketBytes)
    {
        ArgumentNullException.ThrowIfNull(communicator);
        ArgumentNullException.ThrowIfNull(gradients);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketBytes, sizeof(float));
        _communicator = communicator;
        _gradients = gradients;
        int capacity = bucketBytes / sizeof(float);
        var buckets = new List<int[]>();
        var current = new List<int>();
        long filled = 0;
        for (int i = gradients.Count - 1; i >= 0; i--)
        {
            ArgumentNullException.ThrowIfNull(gradients[i], $"{nameof(gradients)}[{i}]");
            if (current.Count > 0 && filled + gradients[i].Length > capacity)
            {
                buckets.Add([.. current]);
                current.Clear();
                filled = 0;
            }
            current.Add(i);
            filled += gradients[i].Length;
        }
        if (current.Count > 0) buckets.Add([.. current]);
        _buckets = [.. buckets];
        _bucketOf = new int[gradients.Count];
        for (int b = 0; b < _buckets.Length; b++) foreach (int i in _buckets[b]) _bucketOf[i] = b;
        _ready = new int[_buckets.Length];
        _marked = new bool[gradients.Count];
        long largest = _buckets.Where(b => b.Length > 1).Select(b => b.Sum(i => (long)gradients[i].Length)).DefaultIfEmpty(0).Max();
        _flat = new float[largest];
    }

    /// <summary>How many all-reduce messages a step sends (on more than one rank).</summary>
    public int BucketCount => _buckets.Length;

    /// <summary>Time spent in all-reduce (copies and scaling included) since this averager was made.</summary>
    public TimeSpan ReduceTime => Stopwatch.GetElapsedTime(0, _reduceTicks);

    /// <summary>Says that gradient <paramref name="index"/> is final for this step; reduces the buckets this completes.</summary>
    /// <exception cref="InvalidOperationException">The gradient was already marked this step.</exception>
    public void MarkReady(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_gradients.Count, nameof(index));
        if (_marked[index]) throw new InvalidOperationException($"gradient {index} was already marked ready this step; call Finish to end the step");
        _marked[index] = true;
        _ready[_bucketOf[index]]++;
        while (_next < _buckets.Length && _ready[_next] == _buckets[_next].Length) Reduce(_next++);
    }

    /// <summary>Reduces every bucket not yet reduced, leaving each buffer the mean over ranks, and starts a new step.</summary>
    public void Finish()
    {
        while (_next < _buckets.Length) Reduce(_next++);
        _next = 0;
        Array.Clear(_ready);
        Array.Clear(_marked);
    }

    private void Reduce(int bucket)
    {
        int ranks = _communicator.Size;
        if (ranks == 1) return;
        long started = Stopwatch.GetTimestamp();
        float scale = 1f / ranks;
        var members = _buckets[bucket];
        if (members.Length == 1)
        {
            var g = _gradients[members[0]].AsSpan();
            _communicator.AllreduceSum(g);
            TensorPrimitives.Multiply(g, scale, g);
        }
        else
        {
            int at = 0;
            foreach (int i in members)
            {
                _gradients[i].CopyTo(_flat, at);
                at += _gradients[i].Length;
            }
            var flat = _flat.AsSpan(0, at);
            _communicator.AllreduceSum(flat);
            at = 0;
            foreach (int i in members)
            {
                TensorPrimitives.Multiply(flat.Slice(at, _gradients[i].Length), scale, _gradients[i]);
                at += _gradients[i].Length;
            }
        }
        _reduceTicks += Stopwatch.GetTimestamp() - started;
    }
}
