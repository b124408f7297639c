using System.Globalization;
using System.Text.Json;
using BertSharp.IO;

namespace BertSharp.Data;

/// <summary>JSON Lines: one object per line; blank lines are skipped. Labels may be strings, integers or booleans.</summary>
internal static class JsonLinesDatasetReader
{
    public static TextDataset Read(string path, DatasetLoadOptions options)
    {
        using var lines = new ByteLineReader(File.OpenRead(path));
        ExampleCollector? rows = null;
        string? textName = null, pairName = null, labelName = null;
        while (lines.TryReadLine(out var bytes))
        {
            long line = lines.LineNumber;
            if (lines.LineOffset == 0 && bytes.StartsWith("\uFEFF"u8))
                bytes = bytes[3..];
            StrictUtf8.Validate(bytes, path, lines.LineOffset, line);
            if (bytes.Trim(" \t"u8).IsEmpty)
                continue;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(bytes.ToArray());
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}, line {line}: not valid JSON ({JsonErrors.Describe(e)})", e);
            }
            using (doc)
            {
                try
                {
                    Read(doc.RootElement);
                }
                catch (InvalidOperationException e)
                {
                    // A key or string that is valid JSON but not valid text, such as an escaped lone surrogate.
                    throw new InvalidDataException($"{path}, line {line}: {e.Message}", e);
                }
            }

            void Read(JsonElement obj)
            {
                if (obj.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}, line {line}: expected a JSON object, found {obj.ValueKind}");
                string[] keys = [.. obj.EnumerateObject().Select(p => p.Name)];
                string where = $"{path}, line {line}";
                // The first object fixes the names; later objects must have the same keys.
                textName ??= keys[ColumnChooser.Find(keys, options.TextColumn, ColumnChooser.TextDefaults, "text", where)];
                if (pairName is null && options.TextPairColumn is not null)
                    pairName = keys[ColumnChooser.Find(keys, options.TextPairColumn, [], "text-pair", where)];
                labelName ??= keys[ColumnChooser.Find(keys, options.LabelColumn, [ColumnChooser.LabelDefault], "label", where)];
                rows ??= new ExampleCollector(path, options, textName, pairName, labelName);
                rows.Add(
                    Value(obj, keys, textName, "text", where),
                    pairName is null ? null : Value(obj, keys, pairName, "text-pair", where),
                    Value(obj, keys, labelName, "label", where),
                    line);
            }
        }
        return (rows ?? new ExampleCollector(path, options, "text", null, "label")).Build();
    }

    private static string? Value(JsonElement obj, string[] keys, string name, string role, string where)
    {
        if (!obj.TryGetProperty(name, out var value))
        {
            ColumnChooser.Find(keys, name, [], role, where);
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => null,
            _ => throw new InvalidDataException($"{where}: '{name}' is a JSON {value.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture)}; expected a string, number or boolean"),
        };
    }
}
