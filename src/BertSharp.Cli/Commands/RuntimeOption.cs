using System.CommandLine;
using BertSharp.Inference;

namespace BertSharp.Cli.Commands;

/// <summary>--runtime managed|onnx, shared by predict, eval and serve.</summary>
internal static class RuntimeOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--runtime")
        {
            Description = "managed (BertSharp's encoder) or onnx (ONNX Runtime on the model's model.onnx, from bertsharp export-onnx)",
            DefaultValueFactory = _ => "managed",
        };
        option.AcceptOnlyFromAmong("managed", "onnx");
        return option;
    }

    public static InferenceRuntime Parse(string? value) => value == "onnx" ? InferenceRuntime.Onnx : InferenceRuntime.Managed;
}
