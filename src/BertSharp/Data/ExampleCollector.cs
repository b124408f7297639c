namespace BertSharp.Data;

/// <summary>
/// Gathers the rows a reader produces and applies the rules every format shares: text and label
/// must not be empty (or the row is skipped and counted, when asked), and a file must hold rows.
/// </summary>
internal sealed class ExampleCollector(string source, DatasetLoadOptions options, string textColumn, string? textPairColumn, string labelColumn)
{
    private readonly List<LabeledExample> _rows = [];
    private int _skipped;

    public void Add(string? text, string? textPair, string? label, long line) => Add(text, textPair, label, source, line);

    /// <summary>Adds an example that is a whole file of its own (IMDB), which error messages name.</summary>
    public void AddFile(string? text, string label, string file) => Add(text, null, label, file, 0);

    private void Add(string? text, string? textPair, string? label, string where, long line)
    {
        string? empty = string.IsNullOrWhiteSpace(text) ? $"the text ('{textColumn}')"
            : textPairColumn is not null && string.IsNullOrWhiteSpace(textPair) ? $"the text pair ('{textPairColumn}')"
            : string.IsNullOrWhiteSpace(label) && !(options.AllowEmptyLabels && label is not null) ? $"the label ('{labelColumn}')"
            : null;
        if (empty is not null)
        {
            if (options.SkipEmptyRows)
            {
                _skipped++;
                return;
            }
            throw new InvalidDataException(
                $"{LabeledExample.Describe(where, line)}: {empty} is empty; fix the row, or skip empty rows with the skip-empty-rows option");
        }
        _rows.Add(new LabeledExample(text!, textPair, label!.Trim()) { Source = where, Line = line });
    }

    public TextDataset Build()
    {
        if (_rows.Count == 0)
            throw new InvalidDataException(_skipped > 0 ? $"{source}: all {_skipped} rows are empty" : $"{source}: no examples");
        return new TextDataset([.. _rows], textColumn, textPairColumn, labelColumn, source, _skipped);
    }
}
