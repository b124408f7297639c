using System.Text;

namespace BertSharp.Data;

/// <summary>
/// TREC question classification (Li and Roth 2002): <c>COARSE:fine question …</c> per line, in
/// Latin-1 as the original files are. Columns as HF's <c>trec</c>: text, coarse_label (the default
/// label) and fine_label (the whole <c>COARSE:fine</c>).
/// </summary>
internal static class TrecDatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options)
    {
        string[] columns = ["text", "coarse_label", "fine_label"];
        ColumnChooser.Find(columns, options.TextColumn, ["text"], "text", path);
        int label = ColumnChooser.Find(columns, options.LabelColumn is null or ColumnChooser.LabelDefault ? null : options.LabelColumn, ["coarse_label"], "label", path);
        if (options.TextPairColumn is not null)
            throw new InvalidDataException($"{path}: TREC questions have no text pair");
        bool fine = label == 2;
        var rows = new ExampleCollector(path, options, "text", null, columns[label]);
        using var lines = new ByteLineReader(File.OpenRead(path));
        while (lines.TryReadLine(out var bytes))
        {
            if (bytes.IsEmpty)
                continue;
            string text = Encoding.Latin1.GetString(bytes);
            int space = text.IndexOf(' ');
            int colon = text.IndexOf(':');
            if (space < 0 || colon < 0 || colon > space)
                throw new InvalidDataException($"{path}, line {lines.LineNumber}: expected 'COARSE:fine question', found '{Shorten(text)}'");
            rows.Add(text[(space + 1)..], null, fine ? text[..space] : text[..colon], lines.LineNumber);
        }
        return rows.Build();
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
