using System.Collections;
using System.Globalization;
using System.Text;

namespace BertSharp.Data;

/// <summary>
/// An immutable list of labelled examples with the operations of Hugging Face's <c>Dataset</c> that
/// text classification needs: load, inspect, shuffle, select and split. Every operation returns a new
/// dataset that shares the examples.
/// </summary>
public sealed class TextDataset : IReadOnlyList<LabeledExample>, ITaskDataset
{
    private readonly LabeledExample[] _rows;

    /// <summary>Wraps examples built in code.</summary>
    /// <param name="examples">The examples, in order.</param>
    public TextDataset(IEnumerable<LabeledExample> examples)
        : this([.. examples], "text", null, "label", null, 0)
    {
        if (_rows.Any(r => r.TextPair is not null))
            TextPairColumn = "text_pair";
    }

    internal TextDataset(LabeledExample[] rows, string textColumn, string? textPairColumn, string labelColumn, string? source, int skippedRows)
    {
        _rows = rows;
        TextColumn = textColumn;
        TextPairColumn = textPairColumn;
        LabelColumn = labelColumn;
        Source = source;
        SkippedRows = skippedRows;
    }

    /// <summary>
    /// Reads a dataset from a file (CSV, TSV, JSON Lines, Parquet, TREC) or an IMDB folder
    /// (<c>pos/</c>, <c>neg/</c>). Bad input throws an exception that names the file and line.
    /// </summary>
    /// <param name="path">The file or folder.</param>
    /// <param name="options">Format and column names; <see langword="null"/> for the defaults.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">A row is malformed, empty or not UTF-8, or a column is missing.</exception>
    public static TextDataset Load(string path, DatasetLoadOptions? options = null) =>
        DatasetReader.Read(path, options ?? DatasetLoadOptions.Default);

    /// <summary>The number of examples.</summary>
    public int Count => _rows.Length;

    /// <summary>The example at <paramref name="index"/>.</summary>
    public LabeledExample this[int index] => _rows[index];

    /// <summary>The name of the source column that holds the text.</summary>
    public string TextColumn { get; }

    /// <summary>The name of the source column that holds the second text, or <see langword="null"/>.</summary>
    public string? TextPairColumn { get; }

    /// <summary>The name of the source column that holds the label.</summary>
    public string LabelColumn { get; }

    /// <summary>The columns this dataset uses, in the order text, text pair, label (HF's <c>features</c>).</summary>
    public IReadOnlyList<string> Columns => TextPairColumn is null ? [TextColumn, LabelColumn] : [TextColumn, TextPairColumn, LabelColumn];

    /// <summary>The file or folder the examples were read from, or <see langword="null"/>.</summary>
    public string? Source { get; }

    /// <summary>Rows skipped as empty because <see cref="DatasetLoadOptions.SkipEmptyRows"/> was set.</summary>
    public int SkippedRows { get; }

    /// <summary>
    /// A copy in a random order that depends only on <paramref name="seed"/>: a Fisher–Yates shuffle
    /// driven by SplitMix64 seeded with the seed's 64-bit two's complement, so the same seed gives
    /// the same order on every machine and .NET version (not the order NumPy would give).
    /// </summary>
    public TextDataset Shuffle(int seed)
    {
        var rows = (LabeledExample[])_rows.Clone();
        Generator(seed).Shuffle(rows.AsSpan());
        return With(rows);
    }

    /// <summary>The first <paramref name="count"/> examples (all of them when there are fewer).</summary>
    public TextDataset Select(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return With(_rows[..Math.Min(count, _rows.Length)]);
    }

    /// <summary>The examples at <paramref name="indices"/>, in that order (repeats allowed).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside the dataset.</exception>
    public TextDataset Select(IEnumerable<int> indices)
    {
        var rows = new List<LabeledExample>();
        foreach (int i in indices)
        {
            if ((uint)i >= (uint)_rows.Length)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"index {i} is outside the dataset of {_rows.Length} examples");
            rows.Add(_rows[i]);
        }
        return With([.. rows]);
    }

    /// <summary>
    /// Splits into "train" and "test" as HF's <c>train_test_split</c> does: the test part gets
    /// ⌈testSize × n⌉ examples. Stratified (the default), each label gets its share of the test part
    /// by largest remainder, so both parts keep the class balance; within each label, and then within
    /// each part, the order is shuffled with <paramref name="seed"/> as <see cref="Shuffle"/> does.
    /// </summary>
    /// <param name="testSize">The fraction for the test part, in (0, 1).</param>
    /// <param name="seed">The seed of the shuffles.</param>
    /// <param name="stratify">Keep each label's share in both parts.</param>
    /// <exception cref="ArgumentOutOfRangeException">A part would be empty.</exception>
    public DatasetDict TrainTestSplit(double testSize, int seed = 42, bool stratify = true)
    {
        if (!(testSize > 0 && testSize < 1))
            throw new ArgumentOutOfRangeException(nameof(testSize), testSize, "the test size must be a fraction between 0 and 1");
        int n = _rows.Length;
        int nTest = (int)Math.Ceiling(testSize * n);
        if (nTest < 1 || nTest >= n)
            throw new ArgumentOutOfRangeException(nameof(testSize), testSize, $"a test size of {testSize} leaves an empty part of {n} examples");

        var rng = Generator(seed);
        if (!stratify)
        {
            var order = (LabeledExample[])_rows.Clone();
            rng.Shuffle(order.AsSpan());
            return new DatasetDict { ["train"] = With(order[nTest..]), ["test"] = With(order[..nTest]) };
        }

        var test = new List<LabeledExample>(nTest);
        var train = new List<LabeledExample>(n - nTest);
        var byLabel = GroupByLabel();
        int[] quota = StratifiedQuota([.. byLabel.Select(g => g.Count)], nTest);
        for (int c = 0; c < byLabel.Count; c++)
        {
            var members = byLabel[c].ToArray();
            rng.Shuffle(members.AsSpan());
            test.AddRange(members.AsSpan(0, quota[c]));
            train.AddRange(members.AsSpan(quota[c]));
        }
        // Mix the labels, which are grouped so far.
        LabeledExample[] trainRows = [.. train], testRows = [.. test];
        rng.Shuffle(trainRows.AsSpan());
        rng.Shuffle(testRows.AsSpan());
        return new DatasetDict { ["train"] = With(trainRows), ["test"] = With(testRows) };
    }

    /// <summary>How many examples each label has, in label-map order (numeric labels numerically, others ordinally).</summary>
    public IReadOnlyList<KeyValuePair<string, int>> ClassBalance()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in _rows)
            counts[row.Label] = counts.GetValueOrDefault(row.Label) + 1;
        return [.. LabelMap.Order(counts.Keys).Select(l => new KeyValuePair<string, int>(l, counts[l]))];
    }

    /// <summary>The class balance as a small table: label, count and share, then the total.</summary>
    public string DescribeClassBalance()
    {
        var balance = ClassBalance();
        int width = Math.Max(5, balance.Count == 0 ? 0 : balance.Max(b => b.Key.Length));
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append("label".PadRight(width)).Append("  ").Append("count".PadLeft(9)).Append("  ").Append("share".PadLeft(6)).Append('\n');
        foreach (var (label, count) in balance)
        {
            sb.Append(label.PadRight(width)).Append("  ").Append(count.ToString("N0", inv).PadLeft(9)).Append("  ")
              .Append((100.0 * count / _rows.Length).ToString("F1", inv).PadLeft(5)).Append("%\n");
        }
        sb.Append("total".PadRight(width)).Append("  ").Append(_rows.Length.ToString("N0", inv).PadLeft(9));
        if (SkippedRows > 0)
            sb.Append("  (").Append(SkippedRows.ToString("N0", inv)).Append(" empty rows skipped)");
        return sb.Append('\n').ToString();
    }

    /// <summary>The dataset as HF prints it: <c>Dataset({ features: [...], num_rows: N })</c>.</summary>
    public override string ToString() => Describe(0);

    internal string Describe(int indent)
    {
        string pad = new(' ', indent);
        string features = string.Join(", ", Columns.Select(c => $"'{c}'"));
        return $"Dataset({{\n{pad}    features: [{features}],\n{pad}    num_rows: {_rows.Length}\n{pad}}})";
    }

    /// <inheritdoc/>
    public IEnumerator<LabeledExample> GetEnumerator() => ((IEnumerable<LabeledExample>)_rows).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal ReadOnlySpan<LabeledExample> AsSpan() => _rows;

    private TextDataset With(LabeledExample[] rows) => new(rows, TextColumn, TextPairColumn, LabelColumn, Source, SkippedRows);

    private static SplitMix64 Generator(int seed) => new(unchecked((ulong)(long)seed));

    private List<List<LabeledExample>> GroupByLabel()
    {
        var groups = new Dictionary<string, List<LabeledExample>>(StringComparer.Ordinal);
        foreach (var row in _rows)
        {
            if (!groups.TryGetValue(row.Label, out var list))
                groups[row.Label] = list = [];
            list.Add(row);
        }
        return [.. LabelMap.Order(groups.Keys).Select(l => groups[l])];
    }

    /// <summary>
    /// Each class's share of <paramref name="total"/>: the floor of its exact share, then one more for
    /// the classes with the largest remainders (ties to the larger class, then the earlier label).
    /// </summary>
    internal static int[] StratifiedQuota(int[] classCounts, int total)
    {
        long n = classCounts.Sum(c => (long)c);
        var quota = new int[classCounts.Length];
        var remainder = new long[classCounts.Length];
        int given = 0;
        for (int c = 0; c < classCounts.Length; c++)
        {
            long exact = (long)total * classCounts[c];
            quota[c] = (int)(exact / n);
            remainder[c] = exact % n;
            given += quota[c];
        }
        var order = Enumerable.Range(0, classCounts.Length)
            .OrderByDescending(c => remainder[c]).ThenByDescending(c => classCounts[c]).ThenBy(c => c).ToArray();
        for (int k = 0; given < total; k++, given++)
            quota[order[k]]++;
        return quota;
    }
}
