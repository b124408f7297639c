using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.QuestionAnswering;

namespace BertSharp.Cli.Commands;

internal static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A fine-tuned model directory", Required = true };
        var texts = new Argument<string[]>("text") { Description = "Texts to classify", Arity = ArgumentArity.ZeroOrMore };
        var input = new Option<string?>("--input") { Description = "A file of texts: one per line, or JSON Lines with \"text\" (and \"text_pair\")" };
        var output = new Option<string?>("--output") { Description = "Write the predictions to this file instead of stdout" };
        var topK = new Option<int>("--top-k") { Description = "How many labels to list per text (0 = all)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "One JSON object per line" };
        var longText = new Option<LongTextStrategy>("--long") { Description = "Texts longer than the model's maximum: Truncate or Chunk (average over overlapping windows)", DefaultValueFactory = _ => LongTextStrategy.Truncate };
        var question = new Option<string?>("--question") { Description = "question-answering: the question" };
        var context = new Option<string?>("--context") { Description = "question-answering: the text to answer from, or a file that holds it" };
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var command = new Command("predict", """
            Classify texts with a fine-tuned model.

            Examples:
              bertsharp predict --model out/polarity "a gripping, beautifully acted film" "a dull mess"
              bertsharp predict --model out/polarity --input reviews.txt --output predictions.jsonl --json --top-k 0
              bertsharp predict --model out/polarity --runtime onnx "runs on the exported model.onnx"
              bertsharp predict --model out/squad --question "Who wrote it?" --context article.txt
              bertsharp predict --model out/squad --input questions.jsonl --json     (lines {"question", "context", "id"?})
            """);
        command.Arguments.Add(texts);
        foreach (var o in new Option[] { model, input, output, topK, json, longText, question, context, runtime, bf16 }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string[] arguments = parse.GetValue(texts) ?? [];
            if (arguments.Length == 0 && parse.GetValue(input) is null && parse.GetValue(question) is null)
                throw new ArgumentException("nothing to classify: give texts as arguments or --input FILE (question-answering: --question Q --context FILE|TEXT)");
            int k = parse.GetValue(topK);
            if (k < 0) throw new ArgumentException($"--top-k {k}: must be ≥ 0");
            ProviderOption.Validate(parse.GetValue(bf16), RuntimeOption.Parse(parse.GetValue(runtime)));
            using var pipeline = Pipeline.Load(parse.GetValue(model)!, RuntimeOption.Parse(parse.GetValue(runtime)));
            ProviderOption.Apply(pipeline, parse.GetValue(bf16));
            // Each task writes its own lines; a new task's pipeline adds its case here.
            var text = pipeline switch
            {
                QuestionAnsweringPipeline qa => QuestionAnsweringPredict.Answer(qa, arguments, parse.GetValue(question), parse.GetValue(context), parse.GetValue(input), k, parse.GetValue(json)),
                TextClassifier classifier => Classify(classifier, arguments, parse.GetValue(input), k, parse.GetValue(json), parse.GetValue(longText)),
                _ => throw new NotSupportedException($"{pipeline.Source}: predict does not know the task of a {pipeline.GetType().Name}"),
            };
            var path = parse.GetValue(output);
            if (path is null) Console.Write(text.ToString());
            else AtomicFile.WriteAllText(path, text.ToString());
            return 0;
        });
        return command;
    }

    private static StringBuilder Classify(TextClassifier classifier, string[] arguments, string? input, int k, bool json, LongTextStrategy longText)
    {
        var (items, pairs) = ReadInputs(arguments, input);
        if (items.Count == 0) throw new ArgumentException("nothing to classify: give texts as arguments or --input FILE");
        var predictions = classifier.PredictBatch(items, pairs, longText);
        var text = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            var p = predictions[i];
            var scores = k == 0 ? p.Scores : p.Scores.Take(k).ToList();
            if (json)
            {
                var row = new Dictionary<string, object> { ["text"] = items[i], ["label"] = p.Label, ["score"] = p.Score };
                if (classifier.ProblemType == BertSharp.Model.ProblemType.MultiLabelClassification) row["labels"] = p.Labels;
                row["scores"] = scores.ToDictionary(s => s.Key, s => s.Value);
                text.Append(JsonSerializer.Serialize(row)).Append('\n');
            }
            else
            {
                var shown = classifier.ProblemType == BertSharp.Model.ProblemType.MultiLabelClassification ? $"[{string.Join(",", p.Labels)}] " : "";
                text.Append(shown).Append(string.Join(" ", scores.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key}:{s.Value:F4}"))))
                    .Append('\t').Append(items[i].ReplaceLineEndings(" ")).Append('\n');
            }
        }
        return text;
    }

    private static (List<string> Texts, List<string?>? Pairs) ReadInputs(string[] arguments, string? path)
    {
        var texts = new List<string>(arguments);
        if (path is null) return (texts, null);
        if (texts.Count > 0) throw new ArgumentException("give texts either as arguments or with --input, not both");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        bool jsonLines = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        List<string?>? pairs = jsonLines ? [] : null;
        int line = 0;
        using var reader = new StreamReader(path, strict);
        try
        {
            for (string? s; (s = reader.ReadLine()) is not null;)
            {
                line++;
                if (string.IsNullOrWhiteSpace(s)) continue;
                if (!jsonLines) { texts.Add(s); continue; }
                JsonElement row;
                try { row = JsonDocument.Parse(s).RootElement; }
                catch (JsonException e) { throw new InvalidDataException($"{path}:{line}: not valid JSON ({e.Message})"); }
                if (row.ValueKind != JsonValueKind.Object || !row.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{line}: expected an object with a string field \"text\"");
                texts.Add(t.GetString()!);
                pairs!.Add(row.TryGetProperty("text_pair", out var tp) && tp.ValueKind == JsonValueKind.String ? tp.GetString() : null);
            }
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException($"{path}:{line + 1}: not valid UTF-8");
        }
        return (texts, pairs is not null && pairs.Any(p => p is not null) ? pairs : null);
    }
}
