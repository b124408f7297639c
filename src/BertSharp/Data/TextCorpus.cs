namespace BertSharp.Data;

/// <summary>
/// Unlabelled text for pre-training: documents, each a list of sentences (the structure next-sentence prediction
/// samples from). Read from a text file (one document per blank-line-separated block, a sentence per line), a
/// folder (every <c>*.txt</c> below it, one document per file), or one column of a CSV/TSV, JSON Lines or Parquet
/// file (one document per row; the column is <c>text</c> unless the options name another).
/// </summary>
public sealed class TextCorpus : ITaskDataset
{
    private readonly string[][] _documents;

    /// <summary>A corpus of documents already split into sentences.</summary>
    public TextCorpus(IEnumerable<IReadOnlyList<string>> documents, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        _documents = [.. documents.Select(d => d.ToArray()).Where(d => d.Length > 0)];
        Source = source;
    }

    /// <summary>The number of documents.</summary>
    public int Count => _documents.Length;

    /// <inheritdoc/>
    public string? Source { get; }

    /// <summary>The sentences of document <paramref name="index"/>.</summary>
    public IReadOnlyList<string> this[int index] => _documents[index];

    /// <summary>
    /// Reads a corpus. A <c>.txt</c> file (or any file that is not CSV/TSV/JSONL/Parquet) is plain text; a folder is
    /// every <c>*.txt</c> file below it in ordinal path order; a table's text is <paramref name="options"/>' text column.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="InvalidDataException">The input holds no text; a table's error names its file, line and column.</exception>
    public static TextCorpus Load(string path, DatasetLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= DatasetLoadOptions.Default;
        TextCorpus corpus;
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path, "*.txt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0) throw new InvalidDataException($"{path}: the folder holds no .txt files");
            corpus = new TextCorpus(files.Select(f => Sentences(ReadText(f))), path);
        }
        else if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file or folder", path);
        }
        else if (IsTable(path, options.Format))
        {
            // The text column doubles as the label column: the table readers want one, and pre-training reads none.
            var table = TextDataset.Load(path, options with { TextColumn = options.TextColumn ?? "text", LabelColumn = options.TextColumn ?? "text", AllowEmptyLabels = true });
            corpus = new TextCorpus(table.Select(e => Sentences(e.Text)), path);
        }
        else
        {
            // Blank lines separate documents; each non-empty line is a sentence (BERT's pre-training text format).
            var documents = new List<IReadOnlyList<string>>();
            var current = new List<string>();
            foreach (var line in ReadText(path).Split('\n'))
            {
                var trimmed = line.Trim();
                if (trimmed.Length > 0)
                {
                    current.Add(trimmed);
                    continue;
                }
                if (current.Count > 0) documents.Add(current);
                current = [];
            }
            if (current.Count > 0) documents.Add(current);
            corpus = new TextCorpus(documents, path);
        }
        if (corpus.Count == 0) throw new InvalidDataException($"{path}: no text to pre-train on");
        return corpus;
    }

    /// <summary>The documents at <paramref name="indices"/>.</summary>
    public TextCorpus Select(IEnumerable<int> indices) => new(indices.Select(i => (IReadOnlyList<string>)_documents[i]), Source);

    /// <summary>
    /// A seeded split by document into (train, held-out): <paramref name="heldOut"/> of the documents (at least one
    /// when there are two or more) go to the second.
    /// </summary>
    public (TextCorpus Train, TextCorpus HeldOut) Split(double heldOut, int seed)
    {
        if (!(heldOut >= 0 && heldOut < 1)) throw new ArgumentException($"held-out share {heldOut}: must be in [0, 1)");
        var order = Enumerable.Range(0, Count).ToArray();
        new SplitMix64((ulong)seed).Shuffle(order.AsSpan());
        int n = heldOut == 0 || Count < 2 ? 0 : Math.Max(1, (int)Math.Round(Count * heldOut));
        return (Select(order.Skip(n).Order()), Select(order.Take(n).Order()));
    }

    /// <summary>The first <paramref name="count"/> documents after a seeded shuffle.</summary>
    public TextCorpus Sample(int count, int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new SplitMix64((ulong)seed).Shuffle(order.AsSpan());
        return Select(order.Take(Math.Min(count, Count)).Order());
    }

    /// <summary>The total number of sentences, for messages.</summary>
    public long SentenceCount => _documents.Sum(d => (long)d.Length);

    // A document's sentences: its lines, and within a line the breaks after . ! ? before a space — reviews such as
    // IMDB's come as one line with HTML line breaks, which count as breaks too.
    private static List<string> Sentences(string text)
    {
        var result = new List<string>();
        foreach (var line in text.Replace("<br />", "\n", StringComparison.Ordinal).Split('\n'))
        {
            int start = 0;
            for (int i = 0; i < line.Length; i++)
            {
                bool end = line[i] is '.' or '!' or '?' && (i + 1 == line.Length || char.IsWhiteSpace(line[i + 1]));
                if (!end) continue;
                Add(line[start..(i + 1)]);
                start = i + 1;
            }
            Add(line[start..]);
        }
        return result;

        void Add(string s)
        {
            s = s.Trim();
            if (s.Length > 0) result.Add(s);
        }
    }

    private static string ReadText(string path) => StrictUtf8.Decode(File.ReadAllBytes(path), path, 0, 1);

    private static bool IsTable(string path, DatasetFormat format) => format != DatasetFormat.Auto ||
        Path.GetExtension(path).ToLowerInvariant() is ".csv" or ".tsv" or ".jsonl" or ".json" or ".parquet";
}
