using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Cli.Commands;

internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Built-in name (minilm-l6, arctic-xs), model directory, .onnx file or hub id" };
        var revision = ModelSource.Revision();
        var config = new Option<string?>("--config") { Description = "A config.json alone: sizes computed from the config instead of loaded weights" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var batch = new Option<int>("--batch") { Description = "Batch size for the training-memory estimate", DefaultValueFactory = _ => 8 };
        var seq = new Option<int>("--seq") { Description = "Sequence length for the training-memory estimate", DefaultValueFactory = _ => 128 };
        var command = new Command("info",
            "Show a model's shape, parameter count by part, and the memory inference and training need.\n\n" +
            "Examples:\n  bertsharp info --model minilm-l6\n  bertsharp info --config bert-base/config.json --batch 32 --seq 256 --json")
        {
            model, revision, config, json, batch, seq,
        };
        command.SetAction(parse =>
        {
            int b = parse.GetValue(batch), s = parse.GetValue(seq);
            if (b <= 0 || s <= 0) throw new ArgumentException($"--batch ({b}) and --seq ({s}) must be positive");
            var (source, cfg, size) = Resolve(parse.GetValue(model) is { } m ? ModelSource.Resolve(m, parse.GetValue(revision)) : null, parse.GetValue(config));
            if (parse.GetValue(json)) Console.WriteLine(Json(source, cfg, size, b, s).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(source, cfg, size, b, s);
            return 0;
        });
        return command;
    }

    private static (string Source, BertConfig Config, ModelSize Size) Resolve(string? model, string? configPath)
    {
        if (configPath is not null)
        {
            if (model is not null) throw new ArgumentException("give --model or --config, not both");
            var c = HfDirectory.ReadConfig(configPath);
            return (configPath, c, ModelSize.FromConfig(c));
        }
        model ??= BuiltInModels.Default;
        // A directory with only config.json (no weights) is enough to size a model.
        if (Directory.Exists(model) && File.Exists(Path.Combine(model, HfDirectory.ConfigFile))
            && !File.Exists(Path.Combine(model, HfDirectory.WeightsFile)) && !File.Exists(Path.Combine(model, HfDirectory.WeightsIndexFile)))
        {
            var c = HfDirectory.ReadConfig(Path.Combine(model, HfDirectory.ConfigFile));
            return (model, c, ModelSize.FromConfig(c));
        }
        var loaded = PretrainedModel.Load(model);
        return (loaded.Source, loaded.Config, ModelSize.FromWeights(loaded.Weights));
    }

    private static (long Weights, long Gradients, long Moments, long Activations) Training(BertConfig c, ModelSize size, int batch, int seq)
    {
        long w = size.Total * sizeof(float);
        return (w, w, 2 * w, ModelSize.ActivationFloats(c, batch, seq) * sizeof(float));
    }

    private static void Print(string source, BertConfig c, ModelSize size, int batch, int seq)
    {
        var inv = CultureInfo.InvariantCulture;
        string N(long n) => n.ToString("N0", inv);
        string Mb(long bytes) => $"{(bytes / 1e6).ToString("N0", inv)} MB";
        Console.WriteLine($"model              {source}");
        Console.WriteLine($"layers             {c.NumHiddenLayers}");
        Console.WriteLine($"hidden size        {c.HiddenSize}");
        Console.WriteLine($"attention heads    {c.NumAttentionHeads} (head size {c.HeadSize})");
        Console.WriteLine($"intermediate size  {c.IntermediateSize}");
        Console.WriteLine($"vocabulary         {N(c.VocabSize)}");
        Console.WriteLine($"max positions      {c.MaxPositionEmbeddings}");
        Console.WriteLine($"token types        {c.TypeVocabSize}");
        Console.WriteLine("parameters");
        foreach (var (part, n) in size.Parts) Console.WriteLine($"  {part,-28}{N(n),14}");
        Console.WriteLine($"  {"encoder total",-28}{N(size.Encoder),14}");
        Console.WriteLine($"  {"embeddings + encoder",-28}{N(size.EmbeddingsAndEncoder),14}");
        if (size.Pooler > 0) Console.WriteLine($"  {"with pooler",-28}{N(size.EmbeddingsAndEncoder + size.Pooler),14}");
        Console.WriteLine($"  {"total",-28}{N(size.Total),14}");
        Console.WriteLine($"inference memory (fp32 weights)  {Mb(size.InferenceBytes)} ({N(size.InferenceBytes)} bytes)");
        var (w, g, m, a) = Training(c, size, batch, seq);
        Console.WriteLine($"training memory at batch {batch}, sequence {seq}  {Mb(w + g + m + a)}");
        Console.WriteLine($"  weights           {Mb(w),10}");
        Console.WriteLine($"  gradients         {Mb(g),10}");
        Console.WriteLine($"  AdamW moments     {Mb(m),10}");
        Console.WriteLine($"  activations       {Mb(a),10}  (estimate; see docs/FORMATS.md)");
    }

    private static JsonObject Json(string source, BertConfig c, ModelSize size, int batch, int seq)
    {
        var parts = new JsonObject();
        foreach (var (part, n) in size.Parts) parts[part] = n;
        var (w, g, m, a) = Training(c, size, batch, seq);
        return new JsonObject
        {
            ["model"] = source,
            ["num_hidden_layers"] = c.NumHiddenLayers,
            ["hidden_size"] = c.HiddenSize,
            ["num_attention_heads"] = c.NumAttentionHeads,
            ["intermediate_size"] = c.IntermediateSize,
            ["vocab_size"] = c.VocabSize,
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["type_vocab_size"] = c.TypeVocabSize,
            ["parameters"] = new JsonObject
            {
                ["parts"] = parts,
                ["embeddings"] = size.Embeddings,
                ["encoder"] = size.Encoder,
                ["pooler"] = size.Pooler,
                ["embeddings_and_encoder"] = size.EmbeddingsAndEncoder,
                ["with_pooler"] = size.EmbeddingsAndEncoder + size.Pooler,
                ["total"] = size.Total,
            },
            ["inference_bytes"] = size.InferenceBytes,
            ["training"] = new JsonObject
            {
                ["batch"] = batch,
                ["seq"] = seq,
                ["weights_bytes"] = w,
                ["gradients_bytes"] = g,
                ["adamw_moments_bytes"] = m,
                ["activations_bytes"] = a,
                ["total_bytes"] = w + g + m + a,
            },
        };
    }
}
