using System.CommandLine;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Cli.Commands;

internal static class ExportOnnxCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory (a fine-tuned model exports its head's logits), built-in name or hub id", Required = true };
        var revision = ModelSource.Revision();
        var output = new Option<string?>("--output", "-o") { Description = $"The .onnx file to write (default: {OnnxRuntimeModel.FileName} inside the model directory)" };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset, {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}", DefaultValueFactory = _ => OnnxExporter.DefaultOpset };
        var quantize = new Option<string?>("--quantize") { Description = "int8: dynamic quantisation (int8 weights per output channel, activations quantised at run time)" };
        var command = new Command("export-onnx",
            "Export a BERT as an ONNX graph for ONNX Runtime: a fine-tuned model with its head (output logits),\n" +
            "else the encoder (last_hidden_state, pooler_output).\n\n" +
            "Examples:\n  bertsharp export-onnx --model runs/sst2\n" +
            "  bertsharp export-onnx --model minilm-l6 --output minilm.onnx --quantize int8")
        {
            model, revision, output, opset, quantize,
        };
        command.SetAction(parse =>
        {
            var source = parse.GetValue(model)!;
            // A hub model's folder is the cache's, not a place to write into.
            bool local = PretrainedModel.Locate(source) is not null;
            source = ModelSource.Resolve(source, parse.GetValue(revision));
            var q = parse.GetValue(quantize) switch
            {
                null => OnnxQuantization.None,
                "int8" => OnnxQuantization.Int8,
                var other => throw new ArgumentException($"--quantize '{other}' is not supported; use int8"),
            };
            int o = parse.GetValue(opset);
            if (o is < OnnxExporter.MinOpset or > OnnxExporter.MaxOpset)
                throw new ArgumentException($"--opset {o} is not supported; use {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}");
            var path = parse.GetValue(output)
                ?? (local && Directory.Exists(source) ? Path.Combine(source, OnnxRuntimeModel.FileName)
                    : throw new ArgumentException("--output is required when --model is not a directory"));
            OutputGuard.RefuseInputs(path, "--output", source);
            var loaded = PretrainedModel.Load(source);
            OnnxExporter.Export(loaded, path, o, q);
            string? head = TaskModels.HasHead(loaded.Config, loaded.Weights) ? TaskModels.ArchitectureOf(loaded.Config, loaded.Weights) : null;
            Console.WriteLine($"wrote {path} ({(new FileInfo(path).Length / 1e6).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)} MB): " +
                $"{(head is null ? "encoder" : head + ", output logits")}, opset {o}{(q == OnnxQuantization.Int8 ? ", int8 dynamic quantisation" : "")}");
            return 0;
        });
        return command;
    }
}
