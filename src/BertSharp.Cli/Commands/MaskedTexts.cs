using System.Text;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Data;

namespace BertSharp.Cli.Commands;

/// <summary>Texts for fill-mask and bias-probe: the arguments, or a file with one per line or JSON Lines with "text".</summary>
internal static class MaskedTexts
{
    public static List<string> Read(string[] arguments, string? path)
    {
        var texts = new List<string>(arguments);
        if (path is null) return texts;
        if (texts.Count > 0) throw new ArgumentException("give texts either as arguments or with --input, not both");
        return ReadFile(path);
    }

    public static List<string> ReadFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        var texts = new List<string>();
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        bool jsonLines = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        int line = 0;
        using var reader = new StreamReader(path, strict);
        try
        {
            for (string? s; (s = reader.ReadLine()) is not null;)
            {
                line++;
                if (string.IsNullOrWhiteSpace(s)) continue;
                if (!jsonLines)
                {
                    texts.Add(s);
                    continue;
                }
                JsonElement row;
                try { row = JsonDocument.Parse(s).RootElement; }
                catch (JsonException e) { throw new InvalidDataException($"{path}:{line}: not valid JSON ({JsonErrors.Describe(e)})"); }
                if (row.ValueKind != JsonValueKind.Object || !row.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{line}: expected an object with a string field \"text\"");
                texts.Add(t.GetString()!);
            }
        }
        catch (DecoderFallbackException)
        {
            throw StrictUtf8.InvalidIn(path);
        }
        return texts;
    }
}
