namespace BertSharp.Data;

/// <summary>How <see cref="TextDataset.Load"/> reads a file: its format and which columns hold what.</summary>
public sealed record DatasetLoadOptions
{
    /// <summary>The default options: format from the extension, columns by their usual names.</summary>
    public static DatasetLoadOptions Default { get; } = new();

    /// <summary>The file format; <see cref="DatasetFormat.Auto"/> chooses by extension.</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;

    /// <summary>The column with the text; <see langword="null"/> takes "text", else "sentence".</summary>
    public string? TextColumn { get; init; }

    /// <summary>The column with the second text of a pair; <see langword="null"/> for single texts.</summary>
    public string? TextPairColumn { get; init; }

    /// <summary>
    /// The column with the label; <see langword="null"/> takes "label" (TREC: the coarse label, "fine_label" for the
    /// fine one; IMDB: "label" is pos/neg and "rating" the 1–10 star rating in the file name; CoNLL: the tag
    /// column's 0-based index, the last by default).
    /// </summary>
    public string? LabelColumn { get; init; }

    /// <summary>
    /// Skip rows whose text or label is empty and count them in <see cref="TextDataset.SkippedRows"/>,
    /// instead of failing on the first one (the default, which names its line).
    /// </summary>
    public bool SkipEmptyRows { get; init; }

    /// <summary>
    /// Accept an empty label as a row with no labels (a multi-label set may be empty); otherwise an empty label
    /// is an error or, with <see cref="SkipEmptyRows"/>, a skipped row.
    /// </summary>
    public bool AllowEmptyLabels { get; init; }
}
