using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Data;

namespace BertSharp.Cli.Commands;

internal static class EmbedCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Built-in name (minilm-l6, arctic-xs), model directory or hub id", DefaultValueFactory = _ => BuiltInModels.Default };
        var revision = ModelSource.Revision();
        var pooling = new Option<string>("--pooling") { Description = "mean (over real tokens) or cls", DefaultValueFactory = _ => "mean" };
        var noNormalize = new Option<bool>("--no-normalize") { Description = "Skip the L2 normalisation" };
        var input = new Option<FileInfo?>("--input") { Description = "A UTF-8 file with one text per line" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var texts = new Argument<string[]>("text") { Description = "Texts to embed", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("embed",
            "Print sentence embeddings: mean-pooled over real tokens and L2-normalised, as sentence-transformers does.\n\n" +
            "Examples:\n  bertsharp embed \"a gentle, funny film\" \"a dull movie\"\n  bertsharp embed --model arctic-xs --input lines.txt --json")
        {
            model, revision, pooling, noNormalize, input, json, texts,
        };
        command.SetAction(parse =>
        {
            var pool = ParsePooling(parse.GetValue(pooling)!);
            var all = new List<string>(parse.GetValue(texts) ?? []);
            if (parse.GetValue(input) is { } file)
            {
                if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: no such file", file.FullName);
                // Strict, as predict reads its input: a bad byte became U+FFFD and was embedded without a word.
                try
                {
                    all.AddRange(File.ReadLines(file.FullName, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true)).Where(l => l.Length > 0));
                }
                catch (DecoderFallbackException)
                {
                    throw StrictUtf8.InvalidIn(file.ToString());
                }
            }
            if (all.Count == 0) throw new ArgumentException("nothing to embed: give texts or --input FILE");
            var embedder = SentenceEmbedder.Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)));
            bool normalize = !parse.GetValue(noNormalize);
            var embeddings = embedder.Embed(all, pool, normalize);
            if (parse.GetValue(json))
            {
                var array = new JsonArray();
                foreach (var e in embeddings) array.Add(new JsonArray([.. e.Select(v => JsonValue.Create(v))]));
                var o = new JsonObject
                {
                    ["model"] = embedder.Source,
                    ["pooling"] = pool.ToString().ToLowerInvariant(),
                    ["normalized"] = normalize,
                    ["dimension"] = embedder.Dimension,
                    ["embeddings"] = array,
                };
                Console.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
            }
            else
            {
                var sb = new StringBuilder();
                foreach (var e in embeddings)
                {
                    sb.Clear();
                    for (int i = 0; i < e.Length; i++) sb.Append(i == 0 ? "" : " ").Append(e[i].ToString("R", CultureInfo.InvariantCulture));
                    Console.WriteLine(sb.ToString());
                }
            }
            return 0;
        });
        return command;
    }

    private static SentenceEmbedder.Pooling ParsePooling(string value) => value.ToLowerInvariant() switch
    {
        "mean" => SentenceEmbedder.Pooling.Mean,
        "cls" => SentenceEmbedder.Pooling.Cls,
        _ => throw new ArgumentException($"--pooling '{value}': expected mean or cls"),
    };
}
