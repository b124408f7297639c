using System.Diagnostics;

namespace BertSharp.Model;

/// <summary>
/// Wall time per encoder operation, for <c>bertsharp bench --profile</c>: off by default (one
/// branch per operation), meant for one profiled pass at a time. Operations that run inside a
/// parallel loop (the blocked inference layer's) add up every thread's time, so they can sum to
/// more than the loop's own wall time.
/// </summary>
internal static class OpProfile
{
    internal enum Op
    {
        Embeddings,
        QkvProjection,
        Attention,
        AttentionOutput,
        Intermediate,
        Output,
        FusedTail,
        BlockedLayer,
        Pooler,
        OutputBackward,
        IntermediateBackward,
        AttentionOutputBackward,
        AttentionBackward,
        QkvBackward,
        EmbeddingsBackward,
    }

    private static readonly long[] Ticks = new long[Enum.GetValues<Op>().Length];

    public static bool Enabled { get; set; }

    /// <summary>Times <paramref name="op"/> until the scope is disposed: <c>using (OpProfile.Time(Op.X)) { … }</c>.</summary>
    public static Scope Time(Op op) => new(op, Enabled ? Stopwatch.GetTimestamp() : 0);

    /// <summary>A timed region; a ref struct so that timing costs no allocation and cannot outlive its caller.</summary>
    internal readonly ref struct Scope(Op op, long start)
    {
        public void Dispose()
        {
            // A start of 0 means profiling was off when the scope opened.
            if (start != 0) Interlocked.Add(ref Ticks[(int)op], Stopwatch.GetTimestamp() - start);
        }
    }

    public static void Reset() => Array.Clear(Ticks);

    /// <summary>Operations that ran since <see cref="Reset"/>, with their total milliseconds.</summary>
    public static IEnumerable<(string Name, double Milliseconds)> Milliseconds()
    {
        foreach (var op in Enum.GetValues<Op>())
            if (Ticks[(int)op] > 0) yield return (op.ToString(), Ticks[(int)op] * 1000.0 / Stopwatch.Frequency);
    }
}
