namespace BertSharp.Data;

/// <summary>
/// One labelled example: a text, an optional second text (sentence pairs) and its label as written
/// in the source file. Labels stay strings until a <see cref="LabelMap"/> turns them into ids, so
/// "positive" and "1" are both valid labels.
/// </summary>
/// <param name="Text">The text to classify (the first segment of a pair).</param>
/// <param name="TextPair">The second segment of a sentence pair, or <see langword="null"/>.</param>
/// <param name="Label">The label as written in the source.</param>
public sealed record LabeledExample(string Text, string? TextPair, string Label)
{
    /// <summary>The file the example was read from, for error messages; <see langword="null"/> when built in code.</summary>
    public string? Source { get; init; }

    /// <summary>
    /// The 1-based line of the example in <see cref="Source"/> (the row for Parquet); 0 when the
    /// source holds one example per file (IMDB) or the example was built in code.
    /// </summary>
    public long Line { get; init; }

    /// <summary>Where the example came from, as error messages name it ("dev.csv, line 12").</summary>
    public string Location => Source is null ? "(in memory)" : Describe(Source, Line);

    internal static string Describe(string source, long line) =>
        line <= 0
            ? source
            : source.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)
                ? $"{source}, row {line}"
                : $"{source}, line {line}";
}
