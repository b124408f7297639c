using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace BertSharp.Data;

/// <summary>
/// Apache Parquet through Parquet.Net, one row group at a time. Text columns must be strings;
/// labels may be strings, integers or booleans. Row numbers in messages count from 1 across row groups.
/// </summary>
internal static class ParquetDatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options)
    {
        // Opened here so that a missing or unreadable file stays an I/O error; past this point any
        // failure is the file's content, whatever Parquet.Net throws for it (IOException "not a
        // parquet file", overflows or out-of-range indexes on a corrupt footer, …).
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            return ReadAsync(stream, path, options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: not a readable Parquet file ({e.GetType().Name}: {e.Message})", e);
        }
    }

    private static async Task<TextDataset> ReadAsync(Stream stream, string path, DatasetLoadOptions options)
    {
        var reader = await ParquetReader.CreateAsync(stream).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.GetDataFields();
            string[] names = [.. fields.Select(f => f.Name)];
            var text = fields[ColumnChooser.Find(names, options.TextColumn, ColumnChooser.TextDefaults, "text", path)];
            int pairIndex = ColumnChooser.Find(names, options.TextPairColumn, [], "text-pair", path);
            var pair = pairIndex >= 0 ? fields[pairIndex] : null;
            var label = fields[ColumnChooser.Find(names, options.LabelColumn, [ColumnChooser.LabelDefault], "label", path)];
            foreach (var f in pair is null ? [text] : new[] { text, pair })
            {
                if (!IsString(f))
                    throw new InvalidDataException($"{path}: text column '{f.Name}' holds {f.ClrType.Name} values, not strings");
            }

            var rows = new ExampleCollector(path, options, text.Name, pair?.Name, label.Name);
            long row = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                int n = checked((int)group.RowCount);
                var texts = await Strings(group, text, n).ConfigureAwait(false);
                var pairs = pair is null ? null : await Strings(group, pair, n).ConfigureAwait(false);
                var labels = await Labels(group, label, n, path).ConfigureAwait(false);
                for (int i = 0; i < n; i++)
                    rows.Add(texts[i], pairs?[i], labels[i], ++row);
            }
            return rows.Build();
        }
    }

    // Parquet.Net 6 reports string columns as ReadOnlyMemory<char>; they read as strings all the same.
    private static bool IsString(DataField field) => field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>);

    private static async Task<string?[]> Strings(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new string?[n];
        await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        return values;
    }

    private static Task<string?[]> Labels(ParquetRowGroupReader group, DataField field, int n, string path)
    {
        var t = field.ClrType;
        return IsString(field) ? Strings(group, field, n)
            : t == typeof(long) ? Numbers<long>(group, field, n)
            : t == typeof(int) ? Numbers<int>(group, field, n)
            : t == typeof(short) ? Numbers<short>(group, field, n)
            : t == typeof(sbyte) ? Numbers<sbyte>(group, field, n)
            : t == typeof(byte) ? Numbers<byte>(group, field, n)
            : t == typeof(ushort) ? Numbers<ushort>(group, field, n)
            : t == typeof(uint) ? Numbers<uint>(group, field, n)
            : t == typeof(ulong) ? Numbers<ulong>(group, field, n)
            : t == typeof(bool) ? Booleans(group, field, n)
            : throw new InvalidDataException($"{path}: label column '{field.Name}' holds {t.Name} values; labels must be strings, integers or booleans");
    }

    private static async Task<string?[]> Numbers<T>(ParquetRowGroupReader group, DataField field, int n)
        where T : struct, IFormattable
    {
        if (field.IsNullable)
        {
            var nullable = new T?[n];
            await group.ReadAsync(field, nullable.AsMemory()).ConfigureAwait(false);
            return [.. nullable.Select(v => v?.ToString(null, CultureInfo.InvariantCulture))];
        }
        var values = new T[n];
        await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        return [.. values.Select(v => v.ToString(null, CultureInfo.InvariantCulture))];
    }

    private static async Task<string?[]> Booleans(ParquetRowGroupReader group, DataField field, int n)
    {
        var values = new bool?[n];
        if (field.IsNullable)
        {
            await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        }
        else
        {
            var plain = new bool[n];
            await group.ReadAsync(field, plain.AsMemory()).ConfigureAwait(false);
            for (int i = 0; i < n; i++) values[i] = plain[i];
        }
        return [.. values.Select(v => v is null ? null : v.Value ? "true" : "false")];
    }
}
