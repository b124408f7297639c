using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BertSharp.Inference;

/// <summary>
/// Runs an ONNX BERT through ONNX Runtime: the reference for parity tests, the peer in
/// <c>bertsharp bench</c>, and the <c>--runtime onnx</c> engine. With <c>hiddenStates</c> the graph
/// is edited to also output the embedding layer's and every encoder layer's output, as HF's
/// <c>output_hidden_states</c> does, so a managed encoder can be compared layer by layer.
/// </summary>
internal sealed class OnnxRuntimeEncoder : IDisposable
{
    private static readonly string[] KnownInputs = ["input_ids", "attention_mask", "token_type_ids"];

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string _lastHiddenState;
    private readonly string? _pooler;
    private readonly string[] _hiddenStates;

    /// <summary>Opens a built-in model by name or an .onnx file.</summary>
    public OnnxRuntimeEncoder(string builtInNameOrPath, int threads, bool hiddenStates = false)
        : this(ReadModel(builtInNameOrPath), builtInNameOrPath, threads, hiddenStates)
    {
    }

    private OnnxRuntimeEncoder(ModelProto model, string source, int threads, bool hiddenStates)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var graph = model.Graph;
        _inputNames = [.. graph.Input.Select(i => i.Name).Where(n => KnownInputs.Contains(n))];
        if (!_inputNames.Contains("input_ids"))
            throw new InvalidDataException($"{source}: the graph has no input 'input_ids' (inputs: {string.Join(", ", graph.Input.Select(i => i.Name))})");
        _lastHiddenState = graph.Output.Any(o => o.Name == "last_hidden_state") ? "last_hidden_state"
            : graph.Output.FirstOrDefault()?.Name ?? throw new InvalidDataException($"{source}: the graph has no outputs");
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in graph.Node) foreach (var o in n.Output) producers[o] = n;
        _pooler = graph.Output.Select(o => o.Name).FirstOrDefault(o => producers.TryGetValue(o, out var p) && p.OpType == "Tanh");

        _hiddenStates = hiddenStates ? HiddenStateNames(graph, source) : [];
        foreach (var name in _hiddenStates.Where(n => graph.Output.All(o => o.Name != n)))
            graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });

        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        _session = new InferenceSession(model.ToByteArray(), options);
    }

    /// <summary>Whether the graph also outputs the pooler (tanh of the dense [CLS] projection).</summary>
    public bool HasPooler => _pooler is not null;

    /// <summary>Returns last_hidden_state [batch, seq, hidden].</summary>
    public FloatTensor Run(BertInput input) => Run(input, [_lastHiddenState])[0];

    /// <summary>Returns last_hidden_state, the pooler output when present, and the hidden states when asked for at construction.</summary>
    public BertOutput RunAll(BertInput input)
    {
        var names = new List<string> { _lastHiddenState };
        if (_pooler is not null) names.Add(_pooler);
        names.AddRange(_hiddenStates);
        var outputs = Run(input, names);
        int k = 1;
        var pooled = _pooler is not null ? outputs[k++] : null;
        return new BertOutput
        {
            LastHiddenState = outputs[0],
            PoolerOutput = pooled,
            HiddenStates = _hiddenStates.Length > 0 ? outputs[k..] : null,
        };
    }

    private FloatTensor[] Run(BertInput input, IReadOnlyList<string> outputNames)
    {
        input.Validate();
        long[] shape = [input.BatchSize, input.SequenceLength];
        var values = new List<OrtValue>(_inputNames.Length);
        try
        {
            foreach (var name in _inputNames)
            {
                var ids = name switch { "input_ids" => input.InputIds, "attention_mask" => input.AttentionMask, _ => input.TokenTypeIds };
                values.Add(OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(ids, i => (long)i), shape));
            }
            using var results = _session.Run(_runOptions, _inputNames, values, [.. outputNames]);
            var tensors = new FloatTensor[results.Count];
            for (int i = 0; i < tensors.Length; i++)
            {
                var dims = results[i].GetTensorTypeAndShape().Shape;
                tensors[i] = new FloatTensor(Array.ConvertAll(dims, d => (int)d), results[i].GetTensorDataAsSpan<float>().ToArray());
            }
            return tensors;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    // The output of each LayerNorm that ends a block: the embeddings' and each layer's output LayerNorm,
    // found as the node that adds (or, fused, takes) the LayerNorm bias.
    private static string[] HiddenStateNames(GraphProto graph, string source)
    {
        var biasToOutput = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            if (node.OpType is "Add" or "LayerNormalization")
                foreach (var input in node.Input)
                    biasToOutput.TryAdd(Strip(input), node.Output[0]);
        var names = new List<string>();
        if (!biasToOutput.TryGetValue("embeddings.LayerNorm.bias", out var embeddings))
            throw new InvalidDataException($"{source}: cannot find the embeddings' LayerNorm output");
        names.Add(embeddings);
        for (int i = 0; biasToOutput.TryGetValue($"encoder.layer.{i}.output.LayerNorm.bias", out var layer); i++) names.Add(layer);
        return [.. names];
    }

    private static string Strip(string name) => name.StartsWith("bert.", StringComparison.Ordinal) ? name["bert.".Length..] : name;

    private static ModelProto ReadModel(string builtInNameOrPath)
    {
        using var stream = BuiltInModels.IsBuiltIn(builtInNameOrPath) ? BuiltInModels.OpenOnnx(builtInNameOrPath) : File.OpenRead(builtInNameOrPath);
        try { return ModelProto.Parser.ParseFrom(stream); }
        catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"{builtInNameOrPath}: not an ONNX model ({e.Message})", e); }
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
