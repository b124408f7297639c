using System.Globalization;

namespace BertSharp.Data;

/// <summary>One sentence of a CoNLL file: its words, their tags from the chosen column, and where it starts.</summary>
internal sealed record ConllSentence(string[] Words, string[] Tags, long Line);

/// <summary>
/// The CoNLL-2003 column format: <c>word POS chunk NER</c> per line (any number of space- or tab-separated
/// columns), a blank line between sentences, <c>-DOCSTART-</c> lines between documents. UTF-8.
/// </summary>
internal static class ConllReader
{
    /// <summary>The sentences of a file, tags from column <paramref name="tagColumn"/> (0-based; null = the last).</summary>
    public static List<ConllSentence> ReadSentences(string path, int? tagColumn)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        var sentences = new List<ConllSentence>();
        var words = new List<string>();
        var tags = new List<string>();
        long lineNumber = 0, start = 0;
        // Without a tag column, the last of the file's first line: a line a column short read its chunk tag (B-VP) as the
        // entity tag, reported against the sentence's first line as a tag the model does not know.
        int? lineColumns = null;
        void Flush()
        {
            if (words.Count > 0) sentences.Add(new ConllSentence([.. words], [.. tags], start));
            words.Clear();
            tags.Clear();
        }
        foreach (var raw in File.ReadLines(path, new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true)))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith("-DOCSTART-", StringComparison.Ordinal))
            {
                Flush();
                continue;
            }
            var columns = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            lineColumns ??= columns.Length;
            if (tagColumn is null && columns.Length != lineColumns)
                throw new InvalidDataException($"{LabeledExample.Describe(path, lineNumber)}: {columns.Length} column(s) where the file's first line has {lineColumns}; the tag is the last column, so every line needs as many");
            int column = tagColumn ?? columns.Length - 1;
            if (columns.Length < 2 || column < 1 || column >= columns.Length)
                throw new InvalidDataException($"{LabeledExample.Describe(path, lineNumber)}: expected a word and a tag in column {column} (found {columns.Length} column(s))");
            if (words.Count == 0) start = lineNumber;
            words.Add(columns[0]);
            tags.Add(columns[column]);
        }
        Flush();
        if (sentences.Count == 0) throw new InvalidDataException($"{path}: no sentences");
        return sentences;
    }

    /// <summary>
    /// The entity type of a tag in IOB1, IOB2 (BIO) or IOBES (<c>I-PER</c>, <c>B-LOC</c>, <c>S-ORG</c> → PER, LOC, ORG), or null for <c>O</c>.
    /// </summary>
    public static string? EntityType(string tag) => tag.Length > 2 && tag[1] == '-' ? tag[2..] : null;

    /// <summary>Each sentence as a text (words joined by spaces) labelled with the entity types in it, sorted and joined by '|'.</summary>
    public static TextDataset ReadEntityTypes(string path, DatasetLoadOptions options)
    {
        if (options.TextPairColumn is not null) throw new InvalidDataException($"{path}: CoNLL sentences have no text pair");
        int? column = null;
        if (options.LabelColumn is { } label)
        {
            if (!int.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out int c))
                throw new InvalidDataException($"{path}: a CoNLL label column is a 0-based column index, not '{label}'");
            column = c;
        }
        var rows = new ExampleCollector(path, options with { AllowEmptyLabels = true }, "words", null, "entity types");
        foreach (var s in ReadSentences(path, column))
        {
            var types = s.Tags.Select(EntityType).OfType<string>().Distinct().Order(StringComparer.Ordinal);
            rows.Add(string.Join(' ', s.Words), null, string.Join('|', types), s.Line);
        }
        return rows.Build();
    }
}
