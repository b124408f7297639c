using System.Text.RegularExpressions;
using BertSharp.Model;
using BertSharp.Tensors;
using Onnx;

namespace BertSharp.IO;

/// <summary>
/// Reads a BERT exported to ONNX (as PyTorch's exporter writes it) back into Hugging Face weight
/// names and a <see cref="BertConfig"/> inferred from the shapes. See docs/FORMATS.md.
/// </summary>
internal static partial class OnnxBertImporter
{
    public static (BertConfig Config, StateDict Weights) Import(string path)
    {
        using var stream = File.OpenRead(path);
        return Import(stream, path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    public static (BertConfig Config, StateDict Weights) Import(Stream stream, string source, string? externalDirectory = null)
    {
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(stream); }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{source}: not an ONNX model ({e.Message})", e);
        }
        if (model.Graph is null) throw new InvalidDataException($"{source}: not an ONNX model (no graph)");
        return Import(model.Graph, source, externalDirectory);
    }

    public static (BertConfig Config, StateDict Weights) Import(GraphProto graph, string source, string? externalDirectory)
    {
        var weights = ImportWeights(graph, source, externalDirectory, out var constants, out var consumers);
        // The config is read off bare names; the weights leave under checkpoint names, as every loader gives them.
        return (InferConfig(graph, weights, constants, consumers, source), weights.WithCheckpointNames());
    }

    /// <summary>The weights under HF names, before any check that they make a BERT.</summary>
    public static StateDict ImportWeights(GraphProto graph, string source, string? externalDirectory) =>
        ImportWeights(graph, source, externalDirectory, out _, out _);

    private static StateDict ImportWeights(GraphProto graph, string source, string? externalDirectory,
        out Dictionary<string, TensorProto> constants, out Dictionary<string, List<NodeProto>> consumers)
    {
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer) initializers[t.Name] = t;
        constants = new Dictionary<string, TensorProto>(initializers, StringComparer.Ordinal);
        consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.OpType == "Constant" && node.Output.Count == 1)
                foreach (var a in node.Attribute)
                    if (a.Name == "value" && a.T is not null) constants[node.Output[0]] = a.T;
            foreach (var input in node.Input)
            {
                if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                list.Add(node);
            }
        }

        var weights = new StateDict { Source = source };
        // Linear weights: a MatMul's weight is [in, out]; Gemm's is [out, in] when transB = 1.
        var linearWeights = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            bool isGemm = node.OpType == "Gemm";
            if ((node.OpType != "MatMul" && !isGemm) || node.Input.Count < 2 || !initializers.TryGetValue(node.Input[1], out var w) || w.Dims.Count != 2)
                continue;
            string? name = HfName(w.Name) is { } direct && direct.EndsWith(".weight", StringComparison.Ordinal) ? direct
                : BiasOf(node, isGemm, initializers, consumers) is { } bias ? bias[..^".bias".Length] + ".weight"
                : null;
            if (name is null) continue;
            bool transposed = !isGemm || !TransB(node);
            var shape = OnnxTensors.Shape(w, source);
            var data = OnnxTensors.Floats(w, source, externalDirectory);
            weights[name] = transposed ? Transpose(data, shape[0], shape[1]) : new FloatTensor(shape, data);
            linearWeights.Add(w.Name);
        }
        foreach (var (onnxName, t) in initializers)
        {
            if (linearWeights.Contains(onnxName) || HfName(onnxName) is not { } name
                || (TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Float || weights.ContainsKey(name))
                continue;
            weights[name] = new FloatTensor(OnnxTensors.Shape(t, source), OnnxTensors.Floats(t, source, externalDirectory));
        }
        return weights;
    }

    // Initializer names as PyTorch exports them are the module paths; "bert." is dropped so the
    // encoder sees the same names whether or not a task head was exported with it.
    private static string? HfName(string onnxName)
    {
        if (!onnxName.Contains('.') || onnxName.StartsWith("onnx::", StringComparison.Ordinal)) return null;
        if (!onnxName.EndsWith(".weight", StringComparison.Ordinal) && !onnxName.EndsWith(".bias", StringComparison.Ordinal)) return null;
        return onnxName.StartsWith("bert.", StringComparison.Ordinal) ? onnxName["bert.".Length..] : onnxName;
    }

    private static string? BiasOf(NodeProto node, bool isGemm, Dictionary<string, TensorProto> initializers, Dictionary<string, List<NodeProto>> consumers)
    {
        if (isGemm) return node.Input.Count > 2 ? HfName(node.Input[2]) : null;
        if (!consumers.TryGetValue(node.Output[0], out var next)) return null;
        foreach (var add in next)
        {
            if (add.OpType != "Add") continue;
            foreach (var input in add.Input)
                if (input != node.Output[0] && initializers.ContainsKey(input) && HfName(input) is { } b && b.EndsWith(".bias", StringComparison.Ordinal))
                    return b;
        }
        return null;
    }

    private static bool TransB(NodeProto gemm)
    {
        foreach (var a in gemm.Attribute)
            if (a.Name == "transB") return a.I != 0;
        return false;
    }

    private static FloatTensor Transpose(float[] data, int rows, int cols)
    {
        var t = new float[data.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[c * rows + r] = data[r * cols + c];
        return new FloatTensor([cols, rows], t);
    }

    private static BertConfig InferConfig(GraphProto graph, StateDict weights, Dictionary<string, TensorProto> constants,
        Dictionary<string, List<NodeProto>> consumers, string source)
    {
        string[] required =
        [
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.LayerNorm.weight",
            "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.intermediate.dense.weight",
        ];
        var missing = required.Where(r => !weights.ContainsKey(r)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException(
                $"{source}: not a BERT ONNX graph: no weight for {string.Join(", ", missing.Select(m => $"'{m}'"))} " +
                $"(graph has {graph.Initializer.Count} initializers, {graph.Node.Count} nodes)");

        var word = weights["embeddings.word_embeddings.weight"];
        int hidden = word.Shape[1];
        int layers = 0;
        foreach (var name in weights.Keys)
        {
            var m = LayerIndex().Match(name);
            if (m.Success) layers = Math.Max(layers, int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1);
        }
        int heads = InferHeads(graph, constants, hidden);
        if (heads <= 0 || hidden % heads != 0)
            throw new InvalidDataException($"{source}: cannot find the number of attention heads (no Reshape to [batch, seq, heads, head_size] with heads × head_size = {hidden})");
        return new BertConfig
        {
            VocabSize = word.Shape[0],
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            IntermediateSize = weights["encoder.layer.0.intermediate.dense.weight"].Shape[0],
            MaxPositionEmbeddings = weights["embeddings.position_embeddings.weight"].Shape[0],
            TypeVocabSize = weights.TryGetValue("embeddings.token_type_embeddings.weight", out var tt) ? tt.Shape[0] : 0,
            LayerNormEps = InferLayerNormEps(graph, constants, consumers) ?? 1e-12f,
            HiddenAct = HasOp(graph, "Erf") || !HasOp(graph, "Tanh") ? "gelu" : "gelu_new",
            Architectures = ["BertModel"],
        };
    }

    // The attention reshape is Reshape(x, Concat(batch, seq, [heads], [head_size])) or a constant
    // shape [b, s, heads, head_size]; the pair whose product is the hidden size gives the heads.
    private static int InferHeads(GraphProto graph, Dictionary<string, TensorProto> constants, int hidden)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node) foreach (var o in n.Output) producers[o] = n;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "Reshape" || node.Input.Count < 2) continue;
            long[]? shape = null;
            if (constants.TryGetValue(node.Input[1], out var c)) shape = OnnxTensors.Int64s(c);
            else if (producers.TryGetValue(node.Input[1], out var concat) && concat.OpType == "Concat")
            {
                shape = new long[concat.Input.Count];
                for (int i = 0; i < shape.Length; i++)
                    shape[i] = constants.TryGetValue(concat.Input[i], out var part) && OnnxTensors.Int64s(part) is [var v] ? v : -1;
            }
            if (shape is { Length: 4 } && shape[2] > 0 && shape[3] > 0 && shape[2] * shape[3] == hidden)
                return (int)shape[2];
        }
        // No usable Reshape (e.g. a fused Attention op): BERT's head size is 64 in every released size.
        return hidden % 64 == 0 ? hidden / 64 : 0;
    }

    // LayerNorm is either one LayerNormalization node or Sqrt(Add(ReduceMean(Pow(x - mean, 2)), eps)).
    private static float? InferLayerNormEps(GraphProto graph, Dictionary<string, TensorProto> constants, Dictionary<string, List<NodeProto>> consumers)
    {
        foreach (var node in graph.Node)
        {
            if (node.OpType == "LayerNormalization")
                foreach (var a in node.Attribute)
                    if (a.Name == "epsilon") return a.F;
            if (node.OpType != "Add" || !consumers.TryGetValue(node.Output[0], out var next) || !next.Any(n => n.OpType == "Sqrt")) continue;
            foreach (var input in node.Input)
                if (constants.TryGetValue(input, out var c) && OnnxTensors.Scalar(c) is { } eps && eps > 0 && eps < 1e-3f)
                    return eps;
        }
        return null;
    }

    private static bool HasOp(GraphProto graph, string op) => graph.Node.Any(n => n.OpType == op);

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
