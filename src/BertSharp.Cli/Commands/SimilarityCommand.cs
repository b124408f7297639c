using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BertSharp.Inference;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

internal static class SimilarityCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Built-in name (minilm-l6, arctic-xs), model directory or hub id", DefaultValueFactory = _ => BuiltInModels.Default };
        var revision = ModelSource.Revision();
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var a = new Argument<string>("a") { Description = "First text" };
        var b = new Argument<string>("b") { Description = "Second text" };
        var command = new Command("similarity",
            "Cosine similarity of two texts' sentence embeddings (mean pooling), from -1 to 1.\n\n" +
            "Example:\n  bertsharp similarity \"the film is a delight\" \"a delightful movie\"")
        {
            model, revision, json, a, b,
        };
        command.SetAction(parse =>
        {
            var embedder = SentenceEmbedder.Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)));
            float cosine = embedder.Similarity(parse.GetValue(a)!, parse.GetValue(b)!);
            if (parse.GetValue(json))
                Console.WriteLine(new JsonObject { ["model"] = embedder.Source, ["cosine_similarity"] = cosine }.ToJsonString());
            else
                Console.WriteLine(cosine.ToString("F6", CultureInfo.InvariantCulture));
            return 0;
        });
        return command;
    }
}
