using System.Globalization;
using System.Text;
using System.Text.Json;
using BertSharp.QuestionAnswering;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary><c>bertsharp predict</c> on a question-answering model: the answer, its score and character offsets per question.</summary>
internal static class QuestionAnsweringPredict
{
    public static StringBuilder Answer(QuestionAnsweringPipeline qa, string[] arguments, string? question, string? context, string? input, int topK, bool json)
    {
        if (arguments.Length > 0) throw new ArgumentException("a question-answering model takes --question and --context (or --input FILE), not texts as arguments");
        if (topK < 1) topK = 1;
        List<(string? Id, string Question, string Context)> items;
        if (input is not null)
        {
            if (question is not null || context is not null) throw new ArgumentException("give --question/--context or --input, not both");
            items = Read(input);
        }
        else
        {
            if (question is null || context is null) throw new ArgumentException("question-answering needs both --question and --context (a text, or a file that holds it)");
            items = [(null, question, File.Exists(context) ? ReadText(context) : context)];
        }
        var answers = qa.Answer([.. items.Select(i => (i.Question, i.Context))], topK);
        var text = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            foreach (var a in answers[i])
            {
                if (json)
                {
                    var row = new Dictionary<string, object>();
                    if (items[i].Id is { } id) row["id"] = id;
                    row["question"] = items[i].Question;
                    row["answer"] = a.Answer;
                    row["score"] = a.Score;
                    row["start"] = a.Start;
                    row["end"] = a.End;
                    text.Append(JsonSerializer.Serialize(row)).Append('\n');
                }
                else
                {
                    text.Append(string.Create(CultureInfo.InvariantCulture, $"{a.Answer.ReplaceLineEndings(" ")}\t{a.Score:F4}\t[{a.Start}, {a.End})\t{items[i].Question}")).Append('\n');
                }
            }
        }
        return text;
    }

    private static string ReadText(string path)
    {
        try { return File.ReadAllText(path, new UTF8Encoding(false, throwOnInvalidBytes: true)); }
        catch (DecoderFallbackException) { throw new InvalidDataException($"{path}: not valid UTF-8"); }
    }

    // JSON Lines: {"question", "context", optional "id"}; errors name the file, line and field.
    private static List<(string?, string, string)> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        var items = new List<(string?, string, string)>();
        int line = 0;
        foreach (var s in ReadText(path).Split('\n'))
        {
            line++;
            if (string.IsNullOrWhiteSpace(s)) continue;
            JsonElement row;
            try { row = JsonDocument.Parse(s).RootElement; }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{line}: not valid JSON ({JsonErrors.Describe(e)})"); }
            string Field(string name) => row.ValueKind == JsonValueKind.Object && row.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()!
                : throw new InvalidDataException($"{path}:{line}: expected an object with a string field \"{name}\"");
            string? id = row.ValueKind == JsonValueKind.Object && row.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
            items.Add((id, Field("question"), Field("context")));
        }
        if (items.Count == 0) throw new InvalidDataException($"{path}: no questions");
        return items;
    }
}
