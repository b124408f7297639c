using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.QuestionAnswering;
using BertSharp.Data;

namespace BertSharp.Cli.Commands;

internal static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A fine-tuned model directory", Required = true };
        var revision = ModelSource.Revision();
        var texts = new Argument<string[]>("text") { Description = "Texts to classify", Arity = ArgumentArity.ZeroOrMore };
        var input = new Option<string?>("--input") { Description = "A file of texts: one per line, or JSON Lines with \"text\" (and \"text_pair\")" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the predictions to this file instead of stdout" };
        var topK = new Option<int>("--top-k") { Description = "How many labels to list per text (0 = all)", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "One JSON object per line" };
        var longText = new Option<LongTextStrategy>("--long") { Description = "Texts longer than the model's maximum: Truncate or Chunk (average over overlapping windows)", DefaultValueFactory = _ => LongTextStrategy.Truncate };
        var aggregation = new Option<AggregationStrategy>("--aggregation") { Description = "token-classification: None, Simple, First, Average or Max (Hugging Face's strategies)", DefaultValueFactory = _ => AggregationStrategy.Simple };
        var question = new Option<string?>("--question") { Description = "question-answering: the question" };
        var context = new Option<string?>("--context") { Description = "question-answering: the text to answer from, or a file that holds it" };
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var shard = new Option<string?>("--shard") { Description = "Classify only part i of N (0-based, e.g. 0/4) of the texts: one job of a job array; the parts' outputs in order are the whole output" };
        var distributed = DistributedOption.Create();
        var command = new Command("predict", """
            Classify texts, or find their entities, with a fine-tuned model. Under mpirun the texts are split
            across the ranks and rank 0 writes one output in input order.

            Examples:
              bertsharp predict --model out/polarity "a gripping, beautifully acted film" "a dull mess"
              bertsharp predict --model out/polarity --input reviews.txt --output predictions.jsonl --json --top-k 0
              bertsharp predict --model out/polarity --runtime onnx "runs on the exported model.onnx"
              bertsharp predict --model out/squad --question "Who wrote it?" --context article.txt
              bertsharp predict --model out/squad --input questions.jsonl --json     (lines {"question", "context", "id"?})
              bertsharp predict --model out/polarity --input reviews.txt --shard 2/8 --output part-2.tsv
              mpirun -np 4 -x DOTNET_PROCESSOR_COUNT=2 bertsharp predict --model out/polarity --input reviews.txt --output all.tsv
              bertsharp predict --model out/ner --aggregation First "Singapore Airlines chief executive Chew Choon Seng said ..."
            """);
        command.Arguments.Add(texts);
        foreach (var o in new Option[] { model, revision, input, output, topK, json, longText, aggregation, question, context, runtime, bf16, shard, distributed }) command.Options.Add(o);
        command.SetAction(parse => DistributedOption.Run(parse, distributed, communicator =>
        {
            var path = parse.GetValue(output);
            var modelPath = ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision));
            if (path is not null) OutputGuard.RefuseInputs(path, "--output", modelPath, parse.GetValue(input));
            string[] arguments = parse.GetValue(texts) ?? [];
            if (arguments.Length == 0 && parse.GetValue(input) is null && parse.GetValue(question) is null)
                throw new ArgumentException("nothing to classify: give texts as arguments or --input FILE (question-answering: --question Q --context FILE|TEXT)");
            int k = parse.GetValue(topK);
            if (k < 0) throw new ArgumentException($"--top-k {k}: must be ≥ 0");
            ProviderOption.Validate(parse.GetValue(bf16), RuntimeOption.Parse(parse.GetValue(runtime)));
            using var pipeline = Pipeline.Load(modelPath, RuntimeOption.Parse(parse.GetValue(runtime)));
            ProviderOption.Apply(pipeline, parse.GetValue(bf16));
            StringBuilder text;
            if (pipeline is QuestionAnsweringPipeline qa)
            {
                // Questions come as question/context pairs, not texts; one rank (the one given the single part) answers them all.
                text = DistributedOption.Part(parse.GetValue(shard), communicator, 1).Item2 == 0 ? new StringBuilder()
                    : QuestionAnsweringPredict.Answer(qa, arguments, parse.GetValue(question), parse.GetValue(context), parse.GetValue(input), k, parse.GetValue(json));
            }
            else
            {
                var (allItems, allPairs) = ReadInputs(arguments, parse.GetValue(input));
                if (allItems.Count == 0) throw new ArgumentException("nothing to classify: give texts as arguments or --input FILE");
                var (start, length) = DistributedOption.Part(parse.GetValue(shard), communicator, allItems.Count);
                var items = allItems.GetRange(start, length);
                var pairs = allPairs?.GetRange(start, length);
                // Each task writes its own lines; a new task's pipeline adds its case here.
                // A rank can get no text when there are fewer texts than ranks; it still takes part in the gather.
                text = items.Count == 0 ? new StringBuilder() : pipeline switch
                {
                    TextClassifier classifier => Classify(classifier, items, pairs, k, parse.GetValue(json), parse.GetValue(longText)),
                    TokenClassificationPipeline ner => TokenClassificationOutput.Write(ner, items, parse.GetValue(aggregation), parse.GetValue(json)),
                    _ => throw new NotSupportedException($"{pipeline.Source}: predict does not know the task of a {pipeline.GetType().Name}"),
                };
            }
            // Each rank's lines are a contiguous run of the input, so rank order is input order.
            if (DistributedOption.GatherOnRoot(communicator, text.ToString()) is not { } whole) return 0;
            if (path is null) Console.Write(whole);
            else AtomicFile.WriteAllText(path, whole);
            return 0;
        }));
        return command;
    }

    private static StringBuilder Classify(TextClassifier classifier, List<string> items, List<string?>? pairs, int k, bool json, LongTextStrategy longText)
    {
        var predictions = classifier.PredictBatch(items, pairs, longText);
        var text = new StringBuilder();
        for (int i = 0; i < items.Count; i++)
        {
            var p = predictions[i];
            // NaN has no JSON form and no meaning as a score: name the text instead of failing in the serializer.
            if (p.Scores.Any(s => !float.IsFinite(s.Value)))
                throw new InvalidDataException($"text {i + 1}: the model's scores are not finite ({p.Label}: {p.Score}); its weights or activations overflowed");
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
        // An empty text was classified all the same (the server and the training data refuse one).
        int blank = texts.FindIndex(string.IsNullOrWhiteSpace);
        if (blank >= 0) throw new ArgumentException($"text {blank + 1} is empty; give some text to classify");
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
                catch (JsonException e) { throw new InvalidDataException($"{path}:{line}: not valid JSON ({JsonErrors.Describe(e)})"); }
                if (row.ValueKind != JsonValueKind.Object || !row.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}:{line}: expected an object with a string field \"text\"");
                try
                {
                    if (string.IsNullOrWhiteSpace(t.GetString())) throw new InvalidDataException($"{path}:{line}: \"text\" is empty");
                    texts.Add(t.GetString()!);
                    pairs!.Add(row.TryGetProperty("text_pair", out var tp) && tp.ValueKind == JsonValueKind.String ? tp.GetString() : null);
                }
                catch (InvalidOperationException e)
                {
                    // Valid JSON that is not valid text: an escaped lone surrogate.
                    throw new InvalidDataException($"{path}:{line}: {e.Message}");
                }
            }
        }
        catch (DecoderFallbackException)
        {
            throw StrictUtf8.InvalidIn(path);
        }
        // "nothing to classify: give texts as arguments or --input FILE" said nothing of the file that was given.
        if (texts.Count == 0) throw new InvalidDataException($"{path}: no texts in the file (it is empty or blank)");
        return (texts, pairs is not null && pairs.Any(p => p is not null) ? pairs : null);
    }
}
