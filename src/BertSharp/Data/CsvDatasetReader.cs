using CsvHelper;

namespace BertSharp.Data;

/// <summary>
/// CSV (RFC 4180 quoting) and TSV (no quoting, as GLUE writes it) with a header row, read as a
/// stream of UTF-8 bytes by CsvHelper; each record's bytes are checked to be valid UTF-8.
/// </summary>
internal static class CsvDatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options, bool tabSeparated)
    {
        var csvOptions = new CsvReaderOptions
        {
            Separator = tabSeparated ? '\t' : ',',
            Mode = tabSeparated ? CsvMode.NoEscape : CsvMode.Rfc4180,
            HasHeader = true,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
            MalformedData = CsvMalformedDataHandling.Throw,
            // A row with a field too many (an unquoted comma in the text) shifted the label: "solid film" became a class.
            FieldCountMismatch = CsvFieldCountHandling.Throw,
        };
        try
        {
            using var reader = CsvReader.FromFile(path, csvOptions);
            var header = reader.Headers;
            // The header's bytes are not exposed; CsvHelper decodes a bad byte in it as U+FFFD.
            if (header.Any(name => name.Contains('\uFFFD')))
                throw new InvalidDataException($"{path}, line 1: the header is not valid UTF-8; convert the file to UTF-8");
            int text = ColumnChooser.Find(header, options.TextColumn, ColumnChooser.TextDefaults, "text", path);
            int pair = ColumnChooser.Find(header, options.TextPairColumn, [], "text-pair", path);
            int label = ColumnChooser.Find(header, options.LabelColumn, [ColumnChooser.LabelDefault], "label", path);
            var rows = new ExampleCollector(path, options, header[text], pair >= 0 ? header[pair] : null, header[label]);
            while (reader.Read())
            {
                long line = reader.LineNumber;
                StrictUtf8.Validate(reader.RawRecord, path, reader.ByteOffset, line);
                rows.Add(reader.GetString(text), pair >= 0 ? reader.GetString(pair) : null, reader.GetString(label), line);
            }
            return rows.Build();
        }
        catch (CsvFormatException e)
        {
            string where = e.LineNumber > 0 ? $"{path}, line {e.LineNumber}" : path;
            // The usual cause of a field too many in a CSV: a comma in an unquoted text.
            string hint = !tabSeparated && e.Message.Contains("fields but", StringComparison.Ordinal) ? "; a field holding a comma must be in double quotes" : "";
            throw new InvalidDataException($"{where}: malformed {(tabSeparated ? "TSV" : "CSV")} ({e.Message}){hint}", e);
        }
    }
}
