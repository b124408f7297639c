using System.CommandLine;
using BertSharp.Inference;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

/// <summary>--bf16 (Hugging Face's TrainingArguments name), shared by train, eval, predict, serve and bench.</summary>
internal static class ProviderOption
{
    public const string Description =
        "Run the matrix products in bf16 on oneDNN (Debian: apt-get install libdnnl2; AMX where the CPU has it), " +
        "fp32 master weights; without oneDNN the run falls back to fp32 with a warning";

    public static Option<bool> Create() => new("--bf16") { Description = Description };

    /// <summary>Refuses --bf16 with --runtime onnx before anything loads.</summary>
    public static void Validate(bool bf16, InferenceRuntime runtime)
    {
        if (bf16 && runtime != InferenceRuntime.Managed)
            throw new ArgumentException("--bf16 runs the managed model; it does not apply to --runtime onnx");
    }

    /// <summary>Moves a loaded classifier to bf16 when asked.</summary>
    public static void Apply(Pipeline classifier, bool bf16)
    {
        if (bf16) classifier.Provider = Resolve(bf16);
    }

    /// <summary>The provider for the flag, warning on stderr when bf16 was asked for but cannot run here.</summary>
    public static ComputeProvider Resolve(bool bf16)
    {
        var provider = ComputeProviders.Resolve(bf16, out var reason);
        if (reason is not null) Console.Error.WriteLine($"warning: --bf16 ignored, running fp32 on the managed kernels: {reason}");
        return provider;
    }
}
