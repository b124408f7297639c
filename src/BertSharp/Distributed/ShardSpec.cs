using System.Globalization;

namespace BertSharp.Distributed;

/// <summary>
/// Part <see cref="Index"/> of <see cref="Count"/> equal, contiguous parts of an input, as written
/// <c>i/N</c> (0-based) on the command line: job arrays (Slurm, Kubernetes indexed Jobs) split a
/// large input this way without MPI, and the parts' outputs laid end to end in index order are the
/// whole input's output in input order.
/// </summary>
public readonly record struct ShardSpec(int Index, int Count)
{
    /// <summary>The whole input.</summary>
    public static ShardSpec All => new(0, 1);

    /// <summary>Parses <c>i/N</c> with 0 ≤ i &lt; N.</summary>
    /// <exception cref="ArgumentException">Not of that form; the message shows it.</exception>
    public static ShardSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || count < 1 || index >= count)
            throw new ArgumentException($"--shard {text}: expected i/N with 0 ≤ i < N, e.g. 0/4 for the first of four parts");
        return new ShardSpec(index, count);
    }

    /// <summary>This part's items out of <paramref name="items"/>: the first <c>items mod N</c> parts get one more.</summary>
    public (int Start, int Length) Of(int items) => DataParallel.Even(items, Index, Count);

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
