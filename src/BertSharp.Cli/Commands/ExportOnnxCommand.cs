using System.CommandLine;
using BertSharp.Inference;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

internal static class ExportOnnxCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory (a fine-tuned classifier exports logits), built-in name or hub id", Required = true };
        var output = new Option<string?>("--output") { Description = $"The .onnx file to write (default: {OnnxRuntimeClassifier.FileName} inside the model directory)" };
        var opset = new Option<int>("--opset") { Description = $"ONNX opset, {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}", DefaultValueFactory = _ => OnnxExporter.DefaultOpset };
        var quantize = new Option<string?>("--quantize") { Description = "int8: dynamic quantisation (int8 weights per output channel, activations quantised at run time)" };
        var command = new Command("export-onnx",
            "Export a BERT as an ONNX graph for ONNX Runtime: a classifier (output logits) when the model has a\n" +
            "classification head, else the encoder (last_hidden_state, pooler_output).\n\n" +
            "Examples:\n  bertsharp export-onnx --model runs/sst2\n" +
            "  bertsharp export-onnx --model minilm-l6 --output minilm.onnx --quantize int8")
        {
            model, output, opset, quantize,
        };
        command.SetAction(parse =>
        {
            var source = parse.GetValue(model)!;
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
                ?? (Directory.Exists(source) ? Path.Combine(source, OnnxRuntimeClassifier.FileName)
                    : throw new ArgumentException("--output is required when --model is not a directory"));
            OutputGuard.RefuseInputs(path, "--output", source);
            var loaded = PretrainedModel.Load(source);
            OnnxExporter.Export(loaded, path, o, q);
            bool classifier = loaded.Weights.ContainsKey("classifier.weight");
            Console.WriteLine($"wrote {path} ({(new FileInfo(path).Length / 1e6).ToString("F1", System.Globalization.CultureInfo.InvariantCulture)} MB): " +
                $"{(classifier ? "classifier, output logits" : "encoder")}, opset {o}{(q == OnnxQuantization.Int8 ? ", int8 dynamic quantisation" : "")}");
            return 0;
        });
        return command;
    }
}
