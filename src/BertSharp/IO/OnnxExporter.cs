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
/// with both dimensions dynamic. Weights holding <c>classifier.weight</c> export a sequence
/// classifier with output <c>logits</c> [batch, num_labels] (HF's BertForSequenceClassification:
/// the classifier reads the pooler output); otherwise an encoder with outputs
/// <c>last_hidden_state</c> and, when the weights have a pooler, <c>pooler_output</c>.
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

    /// <summary>Exports a loaded model (built-in, directory or hub id) to <paramref name="path"/>, written atomically.</summary>
    public static void Export(PretrainedModel model, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentNullException.ThrowIfNull(model);
        Export(model.Config, model.Weights, path, opset, quantization);
    }

    /// <summary>Exports HF-named weights (encoder names without <c>bert.</c>, heads as stored) to <paramref name="path"/>, written atomically.</summary>
    public static void Export(BertConfig config, StateDict weights, string path, int opset = DefaultOpset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var model = Build(config, weights, opset, quantization);
        AtomicFile.Write(path, model.WriteTo);
    }

    internal static ModelProto Build(BertConfig config, StateDict weights, int opset, OnnxQuantization quantization)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        if (opset is < MinOpset or > MaxOpset)
            throw new ArgumentOutOfRangeException(nameof(opset), opset, $"opset {opset} is not supported; use {MinOpset} to {MaxOpset}");
        BertWeights.Validate(config, weights);
        if (config.HiddenAct != "gelu")
            throw new InvalidDataException($"{weights.Source}: hidden_act '{config.HiddenAct}' is not exported; only 'gelu' (exact, erf)");
        bool classifier = weights.ContainsKey("classifier.weight");
        var model = OnnxExporterGraph.Build(config, weights, classifier, opset);
        if (quantization == OnnxQuantization.Int8) OnnxExporterInt8.Quantize(model);
        return model;
    }
}
