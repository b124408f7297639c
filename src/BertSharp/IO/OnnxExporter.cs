using BertSharp.Model;
using Google.Protobuf;
using Onnx;

namespace BertSharp.IO;

/// <summary>How <see cref="OnnxExporter"/> stores the Linear layers.</summary>
public enum OnnxQuantization
{
    /// <summary>fp32 weights, the exact model.</summary>
    None,

    /// <summary>int8 weights per output channel, activations quantised at run time (dynamic quantisation).</summary>
    Int8,
}

/// <summary>
/// Writes a BERT as an ONNX graph of standard ops that ONNX Runtime (or any ONNX engine) runs.
/// Inputs <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c> are int64 [batch, sequence]
/// with both dimensions dynamic. A task model exports its head's outputs (a sequence classifier:
/// <c>logits</c> [batch, num_labels], read from the pooler or the [CLS] state as the model does);
/// an encoder exports <c>last_hidden_state</c> and, when it has a pooler, <c>pooler_output</c>.
/// Initializers carry HF names (<c>bert.</c>-prefixed in a classifier); Linear weights of the
/// encoder are MatMul operands stored transposed, [in, out]; pooler and classifier are Gemm with
/// transB = 1 and keep HF's [out, in].
/// </summary>
public static class OnnxExporter
{
    /// <summary>The opset used unless another is asked for: the first with LayerNormalization.</summary>
    public const int DefaultOpset = 17;

    /// <summary>The opsets the graph is valid in.</summary>
    public const int MinOpset = 14, MaxOpset = 21;

    /// <summary>
    /// Exports a loaded model (built-in, directory or hub id) to <paramref name="path"/>, written atomically: a task
    /// model (its config's <c>architectures</c> names a head BertSharp has) with its head's outputs, otherwise the encoder.
    /// </summary>
    public static void Export(PretrainedModel model, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentNullException.ThrowIfNull(model);
        Export(model.Config, model.Weights, path, opset, quantization);
    }

    /// <summary>Exports a checkpoint's config and weights as <see cref="Export(PretrainedModel, string, int, OnnxQuantization)"/> does.</summary>
    public static void Export(BertConfig config, StateDict weights, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        Write(TaskModels.HasHead(config, weights)
            ? Build(TaskModels.Load(config, weights)!, opset, quantization)
            : Build(config, weights, null, opset, quantization), path);
    }

    /// <summary>Exports a task model with its head's outputs (e.g. <c>logits</c>) to <paramref name="path"/>, written atomically.</summary>
    public static void Export(BertPreTrainedModel model, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentNullException.ThrowIfNull(model);
        Write(Build(model, opset, quantization), path);
    }

    /// <summary>Exports an encoder (outputs <c>last_hidden_state</c> and, with a pooler, <c>pooler_output</c>) to <paramref name="path"/>, written atomically.</summary>
    public static void Export(BertModel model, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentNullException.ThrowIfNull(model);
        Write(Build(model.Config, model.ToStateDict().WithCheckpointNames(), null, opset, quantization), path);
    }

    private static void Write(ModelProto model, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        AtomicFile.Write(path, model.WriteTo);
    }

    internal static ModelProto Build(BertPreTrainedModel model, int opset, OnnxQuantization quantization) =>
        Build(model.Config, model.ToStateDict(), model, opset, quantization);

    private static ModelProto Build(BertConfig config, StateDict weights, BertPreTrainedModel? head, int opset, OnnxQuantization quantization)
    {
        if (opset is < MinOpset or > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(opset), opset, $"opset {opset} is not supported; use {MinOpset} to {MaxOpset}");
        // The config a model would be refused with (another activation, relative positions, …) is not exported either.
        config.Validate(weights.Source);
        var model = OnnxExporterGraph.Build(config, weights.WithCheckpointNames(), head, opset);
        if (quantization == OnnxQuantization.Int8) OnnxExporterInt8.Quantize(model);
        return model;
    }
}
