using System.Text.Json;
using BertSharp.IO;

namespace BertSharp.Data;

/// <summary>One sentence for token classification: its words and one tag per word, with where it came from.</summary>
/// <param name="Words">The words (whitespace-free tokens as the data set splits them).</param>
/// <param name="Tags">One tag per word in the BIO (IOB2) scheme once loaded: <c>O</c>, <c>B-TYPE</c> or <c>I-TYPE</c>.</param>
public sealed record TaggedSentence(IReadOnlyList<string> Words, IReadOnlyList<string> Tags)
{
    /// <summary>The file and line the sentence starts at, for messages; "(in memory)" when built in code.</summary>
    public string Location { get; init; } = "(in memory)";
}

/// <summary>
/// Sentences tagged word by word (named entities): read from the CoNLL column format (<c>word … tag</c>,
/// <c>-DOCSTART-</c>, blank lines between sentences) or JSON Lines (<c>{"tokens": [...], "tags": [...]}</c>),
/// with the tags brought to BIO (IOB2) so CoNLL-2003's IOB1 and data already in BIO read the same way.
/// </summary>
public sealed class TokenDataset : ITaskDataset
{
    private readonly List<TaggedSentence> _sentences;

    /// <summary>Sentences built in code (tags converted to BIO).</summary>
    public TokenDataset(IEnumerable<TaggedSentence> sentences, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        _sentences = [.. sentences.Select(s => s with { Tags = ToBio(s.Tags, s.Location) })];
        Source = source;
    }

    /// <inheritdoc/>
    public int Count => _sentences.Count;

    /// <inheritdoc/>
    public string? Source { get; }

    /// <summary>The sentence at <paramref name="index"/>.</summary>
    public TaggedSentence this[int index] => _sentences[index];

    /// <summary>All sentences.</summary>
    public IReadOnlyList<TaggedSentence> Sentences => _sentences;

    /// <summary>The sorted distinct tags (ordinal order, as Hugging Face's run_ner sorts its label list).</summary>
    public IReadOnlyList<string> TagSet() => [.. _sentences.SelectMany(s => s.Tags).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>
    /// The first <paramref name="count"/> sentences after a seeded shuffle: SplitMix64 Fisher–Yates, as
    /// <see cref="TextDataset.Shuffle"/>, so another program can draw the same subset.
    /// </summary>
    public TokenDataset Select(int count, int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new SplitMix64(unchecked((ulong)(long)seed)).Shuffle(order.AsSpan());
        return new TokenDataset(order.Take(Math.Min(count, Count)).Select(i => _sentences[i]), Source);
    }

    /// <summary>
    /// Reads a file: JSON Lines when it ends in <c>.jsonl</c> or <c>.json</c>, else the CoNLL column format with
    /// tags from <paramref name="tagColumn"/> (0-based; null = the last column).
    /// </summary>
    /// <exception cref="InvalidDataException">A line is malformed or a tag is not O, B-X or I-X; the message names the file and line.</exception>
    public static TokenDataset Load(string path, int? tagColumn = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return ReadJsonLines(path);
        var sentences = ConllReader.ReadSentences(path, tagColumn).Select(s =>
            new TaggedSentence(s.Words, ToBio(s.Tags, $"{path}, line {s.Line}", path, s.Line)) { Location = $"{path}, line {s.Line}" });
        return new TokenDataset(sentences, path);
    }

    /// <summary>
    /// IOB1 → BIO (IOB2): an <c>I-X</c> that does not continue an entity of type X (sentence start, after <c>O</c> or
    /// another type) becomes <c>B-X</c>. Tags already in BIO are unchanged.
    /// </summary>
    /// <exception cref="InvalidDataException">A tag is not <c>O</c>, <c>B-X</c> or <c>I-X</c>.</exception>
    public static string[] ToBio(IReadOnlyList<string> tags, string location = "(in memory)") => ToBio(tags, location, null, 0);

    // A CoNLL sentence's words sit on consecutive lines from firstLine, so a bad tag's own line can be named.
    private static string[] ToBio(IReadOnlyList<string> tags, string location, string? path, long firstLine)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var bio = new string[tags.Count];
        string? previousType = null;
        for (int i = 0; i < tags.Count; i++)
        {
            string tag = tags[i];
            if (tag == "O")
            {
                bio[i] = tag;
                previousType = null;
                continue;
            }
            if (tag.Length < 3 || tag[1] != '-' || (tag[0] != 'B' && tag[0] != 'I'))
            {
                string where = path is null ? $"{location}, word {i + 1}" : $"{path}, line {firstLine + i}";
                throw new InvalidDataException($"{where}: tag '{tag}' is not O, B-TYPE or I-TYPE (IOB1 or BIO)");
            }
            string type = tag[2..];
            bio[i] = tag[0] == 'I' && previousType != type ? "B-" + type : tag;
            previousType = type;
        }
        return bio;
    }

    private static TokenDataset ReadJsonLines(string path)
    {
        var sentences = new List<TaggedSentence>();
        long line = 0;
        foreach (var raw in File.ReadLines(path, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true)))
        {
            line++;
            if (raw.Trim().Length == 0) continue;
            string where = $"{path}, line {line}";
            JsonElement obj;
            try
            {
                using var doc = JsonDocument.Parse(raw);
                obj = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{where}: not valid JSON ({JsonErrors.Describe(e)})", e);
            }
            if (obj.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where}: expected a JSON object, found {obj.ValueKind}");
            var words = StringArray(obj, "tokens", where);
            var tags = StringArray(obj, "tags", where);
            if (words.Length != tags.Length)
                throw new InvalidDataException($"{where}: \"tokens\" has {words.Length} items but \"tags\" has {tags.Length}");
            if (words.Length == 0) throw new InvalidDataException($"{where}: \"tokens\" is empty");
            for (int i = 0; i < words.Length; i++)
                if (string.IsNullOrWhiteSpace(words[i])) throw new InvalidDataException($"{where}: \"tokens\"[{i}] is empty");
            sentences.Add(new TaggedSentence(words, ToBio(tags, where)) { Location = where });
        }
        if (sentences.Count == 0) throw new InvalidDataException($"{path}: no sentences");
        return new TokenDataset(sentences, path);
    }

    private static string[] StringArray(JsonElement obj, string field, string where)
    {
        if (!obj.TryGetProperty(field, out var array)) throw new InvalidDataException($"{where}: no \"{field}\" field");
        if (array.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{where}: \"{field}\" must be an array of strings, found {array.ValueKind}");
        var result = new string[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{where}: \"{field}\"[{i}] must be a string, found {item.ValueKind}");
            result[i++] = item.GetString()!;
        }
        return result;
    }
}
