namespace BertSharp.Data;

/// <summary>Chooses the reader for a path: the explicit format, else a folder is IMDB and a file goes by its extension.</summary>
internal static class DatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var format = options.Format == DatasetFormat.Auto ? Detect(path) : options.Format;
        if (format == DatasetFormat.ImdbFolder)
        {
            if (!Directory.Exists(path))
                throw new DirectoryNotFoundException($"{path}: no such folder");
        }
        else if (!File.Exists(path))
        {
            throw Directory.Exists(path)
                ? new InvalidDataException($"{path} is a folder; the {format} format reads a file")
                : new FileNotFoundException($"{path}: no such file", path);
        }
        return format switch
        {
            DatasetFormat.Csv => CsvDatasetReader.Read(path, options, tabSeparated: false),
            DatasetFormat.Tsv => CsvDatasetReader.Read(path, options, tabSeparated: true),
            DatasetFormat.JsonLines => JsonLinesDatasetReader.Read(path, options),
            DatasetFormat.Parquet => ParquetDatasetReader.Read(path, options),
            DatasetFormat.ImdbFolder => ImdbFolderReader.Read(path, options),
            DatasetFormat.Trec => TrecDatasetReader.Read(path, options),
            DatasetFormat.Conll => ConllReader.ReadEntityTypes(path, options),
            _ => throw new ArgumentOutOfRangeException(nameof(options), format, "unknown dataset format"),
        };
    }

    private static DatasetFormat Detect(string path)
    {
        if (Directory.Exists(path))
            return DatasetFormat.ImdbFolder;
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".csv" => DatasetFormat.Csv,
            ".tsv" or ".tab" => DatasetFormat.Tsv,
            ".jsonl" or ".ndjson" or ".json" => DatasetFormat.JsonLines,
            ".parquet" => DatasetFormat.Parquet,
            ".label" => DatasetFormat.Trec,
            ".conll" => DatasetFormat.Conll,
            _ when Path.GetFileName(path).StartsWith("eng.", StringComparison.Ordinal) => DatasetFormat.Conll,
            _ when !File.Exists(path) => throw new FileNotFoundException($"{path}: no such file or folder", path),
            string ext => throw new ArgumentException(
                $"{path}: cannot tell the format from '{ext}'; name it with the format option (csv, tsv, jsonl, parquet, imdb, trec)"),
        };
    }
}
