using System.Text;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.IO;

namespace BertSharp.QuestionAnswering;

/// <summary>One gold answer: its text and where it starts in the context (UTF-16 index).</summary>
public sealed record SquadAnswer(string Text, int Start);

/// <summary>One question over one context with its gold answers (none when only a prediction is wanted).</summary>
public sealed record SquadExample(string Id, string Title, string Question, string Context, IReadOnlyList<SquadAnswer> Answers)
{
    /// <summary>Where the example came from (file and JSON path or line), for messages.</summary>
    public string Location { get; init; } = "";
}

/// <summary>
/// Questions with contexts and answers, read from the SQuAD JSON format (<c>{"data": [{"title", "paragraphs":
/// [{"context", "qas": [{"id", "question", "answers": [{"text", "answer_start"}]}]}]}]}</c>) or JSON Lines with
/// <c>"question"</c>, <c>"context"</c>, <c>"answers"</c> (Hugging Face datasets' <c>{"text": [...], "answer_start":
/// [...]}</c> or a list of <c>{"text", "answer_start"}</c>) and optional <c>"id"</c>, <c>"title"</c>.
/// </summary>
public sealed class SquadDataset : ITaskDataset
{
    private readonly List<SquadExample> _examples;

    /// <summary>Wraps examples already in memory.</summary>
    public SquadDataset(IEnumerable<SquadExample> examples, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        _examples = [.. examples];
        Source = source;
    }

    /// <inheritdoc/>
    public int Count => _examples.Count;

    /// <inheritdoc/>
    public string? Source { get; }

    /// <summary>The examples in file order.</summary>
    public IReadOnlyList<SquadExample> Examples => _examples;

    /// <summary>The article titles in first-seen order.</summary>
    public IReadOnlyList<string> Titles => [.. _examples.Select(e => e.Title).Distinct()];

    /// <summary>Reads a SQuAD JSON file (a <c>.json</c> whose root holds <c>"data"</c>) or JSON Lines.</summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the line or JSON path of the field.</exception>
    public static SquadDataset Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        byte[] bytes = File.ReadAllBytes(path);
        int first = 0;
        while (first < bytes.Length && bytes[first] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or 0xEF or 0xBB or 0xBF) first++;
        bool squad = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && first < bytes.Length && bytes[first] == '{' && !LooksLikeJsonLines(bytes);
        var examples = squad ? ReadSquad(path, bytes) : ReadJsonLines(path, bytes);
        if (examples.Count == 0) throw new InvalidDataException($"{path}: no questions found");
        var duplicate = examples.GroupBy(e => e.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new InvalidDataException($"{duplicate.Skip(1).First().Location}: question id '{duplicate.Key}' appears twice (first at {duplicate.First().Location}); predictions are keyed by id");
        return new SquadDataset(examples, path);
    }

    /// <summary>
    /// Splits by article (title), never a question's context on both sides: a seeded shuffle of the titles, the
    /// last <paramref name="testShare"/> of them (at least one) held out.
    /// </summary>
    public (SquadDataset Train, SquadDataset Test) SplitByArticle(double testShare, int seed)
    {
        if (!(testShare > 0 && testShare < 1)) throw new ArgumentOutOfRangeException(nameof(testShare), testShare, "the held-out share must be in (0, 1)");
        var titles = Titles.ToArray();
        if (titles.Length < 2) throw new InvalidOperationException($"{Source}: {titles.Length} article(s); holding articles out needs at least 2");
        new Random(seed).Shuffle(titles);
        int test = Math.Clamp((int)Math.Round(titles.Length * testShare), 1, titles.Length - 1);
        var held = titles.TakeLast(test).ToHashSet(StringComparer.Ordinal);
        return (new SquadDataset(_examples.Where(e => !held.Contains(e.Title)), Source), new SquadDataset(_examples.Where(e => held.Contains(e.Title)), Source));
    }

    private static bool LooksLikeJsonLines(byte[] bytes)
    {
        // A JSON Lines file named .json: its first line is a whole object.
        int end = System.Array.IndexOf(bytes, (byte)'\n');
        if (end < 0 || end == bytes.Length - 1) return false;
        try
        {
            using var _ = JsonDocument.Parse(bytes.AsMemory(0, end));
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static List<SquadExample> ReadSquad(string path, byte[] bytes)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({JsonErrors.Describe(e)})"); }
        using (document)
        {
            var root = document.RootElement;
            if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: a SQuAD file has an array \"data\" at its root");
            var examples = new List<SquadExample>();
            int a = 0;
            foreach (var article in data.EnumerateArray())
            {
                string at = $"{path}: data[{a}]";
                string title = article.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : $"article {a}";
                int p = 0;
                foreach (var paragraph in Array(article, "paragraphs", at))
                {
                    string pat = $"{at}.paragraphs[{p}]";
                    string context = String(paragraph, "context", pat);
                    int q = 0;
                    foreach (var qa in Array(paragraph, "qas", pat))
                    {
                        string qat = $"{pat}.qas[{q}]";
                        var answers = new List<SquadAnswer>();
                        int k = 0;
                        foreach (var answer in Array(qa, "answers", qat))
                        {
                            string aat = $"{qat}.answers[{k++}]";
                            answers.Add(Answer(String(answer, "text", aat), Int(answer, "answer_start", aat), context, aat));
                        }
                        examples.Add(new SquadExample(String(qa, "id", qat), title, String(qa, "question", qat), context, answers) { Location = qat });
                        q++;
                    }
                    p++;
                }
                a++;
            }
            return examples;
        }
    }

    private static List<SquadExample> ReadJsonLines(string path, byte[] bytes)
    {
        var examples = new List<SquadExample>();
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException) { throw new InvalidDataException($"{path}: not valid UTF-8"); }
        int line = 0;
        foreach (var raw in text.Split('\n'))
        {
            line++;
            if (string.IsNullOrWhiteSpace(raw)) continue;
            string at = $"{path}:{line}";
            JsonDocument document;
            try { document = JsonDocument.Parse(raw); }
            catch (JsonException e) { throw new InvalidDataException($"{at}: not valid JSON ({JsonErrors.Describe(e)})"); }
            using (document)
            {
                var row = document.RootElement;
                if (row.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{at}: expected an object with \"question\", \"context\" and \"answers\"");
                string context = String(row, "context", at);
                string id = row.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : line.ToString(System.Globalization.CultureInfo.InvariantCulture);
                string title = row.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : context;
                var answers = new List<SquadAnswer>();
                if (row.TryGetProperty("answers", out var list))
                {
                    if (list.ValueKind == JsonValueKind.Object)
                    {
                        // Hugging Face datasets' column layout: parallel arrays.
                        var texts = Array(list, "text", $"{at}: answers").ToArray();
                        var starts = Array(list, "answer_start", $"{at}: answers").ToArray();
                        if (texts.Length != starts.Length)
                            throw new InvalidDataException($"{at}: answers has {texts.Length} texts but {starts.Length} answer_start values");
                        for (int k = 0; k < texts.Length; k++)
                        {
                            string aat = $"{at}: answers.text[{k}]";
                            if (texts[k].ValueKind != JsonValueKind.String) throw new InvalidDataException($"{aat} must be a string");
                            if (starts[k].ValueKind != JsonValueKind.Number || !starts[k].TryGetInt32(out int s))
                                throw new InvalidDataException($"{at}: answers.answer_start[{k}] must be an integer");
                            answers.Add(Answer(texts[k].GetString()!, s, context, aat));
                        }
                    }
                    else if (list.ValueKind == JsonValueKind.Array)
                    {
                        int k = 0;
                        foreach (var answer in list.EnumerateArray())
                        {
                            string aat = $"{at}: answers[{k++}]";
                            answers.Add(Answer(String(answer, "text", aat), Int(answer, "answer_start", aat), context, aat));
                        }
                    }
                    else if (list.ValueKind != JsonValueKind.Null)
                    {
                        throw new InvalidDataException($"{at}: \"answers\" must be a list of {{\"text\", \"answer_start\"}} or {{\"text\": [...], \"answer_start\": [...]}}");
                    }
                }
                examples.Add(new SquadExample(id, title, String(row, "question", at), context, answers) { Location = at });
            }
        }
        return examples;
    }

    private static SquadAnswer Answer(string text, int start, string context, string at)
    {
        if (start < 0 || start + text.Length > context.Length || string.CompareOrdinal(context, start, text, 0, text.Length) != 0)
            throw new InvalidDataException($"{at}: answer_start {start} does not point at \"{text}\" in the context");
        return new SquadAnswer(text, start);
    }

    private static JsonElement.ArrayEnumerator Array(JsonElement e, string name, string at) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray()
            : throw new InvalidDataException($"{at}: missing array \"{name}\"");

    private static string String(JsonElement e, string name, string at) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw new InvalidDataException($"{at}: missing string \"{name}\"");

    private static int Int(JsonElement e, string name, string at) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)
            ? n
            : throw new InvalidDataException($"{at}: missing integer \"{name}\"");
}
