using System.Runtime.InteropServices;
using BertSharp.Model;
using BertSharp.Tensors;
using Google.Protobuf;
using Onnx;

namespace BertSharp.IO;

/// <summary>
/// Builds the ONNX graph of a BERT encoder, and of a task model's head when one is given (the head adds its own
/// nodes through <see cref="BertPreTrainedModel.ExportHead"/>), from weights under checkpoint names, with
/// standard ops only. Linear weights of 3-D activations are
/// MatMul initializers stored [in, out] under their HF name (what PyTorch's exporter does, and what
/// <see cref="OnnxBertImporter"/> reads back); the pooler and classifier act on 2-D [CLS] rows, so
/// they are Gemm with transB = 1 and keep HF's [out, in] layout.
/// </summary>
internal sealed class OnnxExporterGraph
{
    private readonly GraphProto _graph = new() { Name = "bertsharp" };
    private readonly BertConfig _config;
    private readonly StateDict _weights;
    private readonly string _prefix;
    private readonly int _opset;
    private readonly HashSet<string> _initializers = new(StringComparer.Ordinal);
    private int _nextId;

    private OnnxExporterGraph(BertConfig config, StateDict weights, string prefix, int opset)
    {
        _config = config;
        _weights = weights;
        _prefix = prefix;
        _opset = opset;
    }

    // weights: under checkpoint names (the encoder under "bert."). head: the task model whose head ends the graph,
    // or null for the encoder's outputs. Initializers of a task model keep "bert." as PyTorch exports them; an
    // encoder's graph has bare names, as HF's BertModel exports.
    public static ModelProto Build(BertConfig config, StateDict weights, BertPreTrainedModel? head, int opset)
    {
        var g = new OnnxExporterGraph(config, weights, head is null ? "" : StateDict.EncoderPrefix, opset);
        g.BuildGraph(head);
        var model = new ModelProto
        {
            IrVersion = IrVersion(opset),
            ProducerName = "BertSharp",
            ProducerVersion = typeof(OnnxExporterGraph).Assembly.GetName().Version?.ToString() ?? "",
            Graph = g._graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    // The IR version each opset shipped with (onnx/helper.py's VERSION_TABLE).
    private static long IrVersion(int opset) => opset switch
    {
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    private void BuildGraph(BertPreTrainedModel? head)
    {
        var c = _config;
        int h = c.HiddenSize;
        bool hasPooler = _weights.ContainsKey(StateDict.EncoderPrefix + "pooler.dense.weight");
        foreach (var name in new[] { "input_ids", "attention_mask", "token_type_ids" })
            _graph.Input.Add(ValueInfo(name, TensorProto.Types.DataType.Int64, "batch", "sequence"));

        var x = Embeddings();

        // Additive mask [batch, 1, 1, sequence]: 0 where attended, float.MinValue where padded (HF's value).
        var mask = Node("Cast", ["attention_mask"], [("to", (long)TensorProto.Types.DataType.Float)]);
        mask = Node("Sub", [Scalar("one", 1f), mask]);
        mask = Node("Mul", [mask, Scalar("mask_value", float.MinValue)]);
        mask = Node("Unsqueeze", [mask, Int64s("mask_axes", [1, 2])]);

        var headShape = Int64s("head_shape", [0, 0, c.NumAttentionHeads, c.HeadSize]);
        var hiddenShape = Int64s("hidden_shape", [0, 0, h]);
        var scale = Scalar("attention_scale", MathF.Sqrt(c.HeadSize));
        for (int i = 0; i < c.NumHiddenLayers; i++) x = Layer(i, x, mask, headShape, hiddenShape, scale);

        if (head is not null)
        {
            head.ExportHead(this, x);
            return;
        }
        Rename(x, "last_hidden_state");
        Output("last_hidden_state", "batch", "sequence", h);
        if (!hasPooler) return;
        Rename(Pooler("last_hidden_state"), "pooler_output");
        Output("pooler_output", "batch", h);
    }

    /// <summary>The [CLS] rows (batch, hidden) of a (batch, sequence, hidden) value.</summary>
    internal string ClsRows(string hidden) => Node("Gather", [hidden, Int64Scalar("cls_index", 0)], [("axis", 1L)]);

    /// <summary>The pooler output tanh(dense(h[CLS])) of the last hidden state.</summary>
    internal string Pooler(string hidden) =>
        Node("Tanh", [Node("Gemm", [ClsRows(hidden), Weight("pooler.dense.weight"), Weight("pooler.dense.bias")], [("transB", 1L)])]);

    /// <summary>A head's linear layer <paramref name="module"/> on 2-D rows: Gemm with transB, the weight kept [out, in].</summary>
    internal string HeadLinear(string rows, string module) =>
        Node("Gemm", [rows, Head(module + ".weight"), Head(module + ".bias")], [("transB", 1L)]);

    /// <summary>Declares a float graph output; dimensions are names (dynamic) or sizes.</summary>
    internal void Output(string name, params object[] dims) => _graph.Output.Add(ValueInfo(name, TensorProto.Types.DataType.Float, dims));

    /// <summary>Gives the value <paramref name="from"/> the public name <paramref name="to"/> (a graph output).</summary>
    internal void Rename(string from, string to)
    {
        foreach (var node in _graph.Node)
            for (int i = 0; i < node.Output.Count; i++)
                if (node.Output[i] == from) node.Output[i] = to;
    }

    private string Embeddings()
    {
        var word = Node("Gather", [Weight("embeddings.word_embeddings.weight"), "input_ids"]);
        // Positions 0..sequence-1: the first rows of the position table, sliced by the input's length.
        var shape = Node("Shape", ["input_ids"]);
        var length = Node("Slice", [shape, Int64s("one_1d", [1]), Int64s("two_1d", [2]), Int64s("zero_1d", [0])]);
        var positions = Node("Slice", [Weight("embeddings.position_embeddings.weight"), Int64s("zero_1d", [0]), length, Int64s("zero_1d", [0])]);
        var x = Node("Add", [word, positions]);
        if (_config.TypeVocabSize > 0)
            x = Node("Add", [x, Node("Gather", [Weight("embeddings.token_type_embeddings.weight"), "token_type_ids"])]);
        return LayerNorm(x, "embeddings.LayerNorm");
    }

    private string Layer(int i, string x, string mask, string headShape, string hiddenShape, string scale)
    {
        string p = $"encoder.layer.{i}.";
        string Heads(string y, long[] perm) => Node("Transpose", [Node("Reshape", [y, headShape])], [("perm", perm)]);
        var q = Heads(Linear(x, p + "attention.self.query"), [0, 2, 1, 3]);
        var k = Heads(Linear(x, p + "attention.self.key"), [0, 2, 3, 1]);
        var v = Heads(Linear(x, p + "attention.self.value"), [0, 2, 1, 3]);
        var scores = Node("Add", [Node("Div", [Node("MatMul", [q, k]), scale]), mask]);
        var probs = Node("Softmax", [scores], [("axis", -1L)]);
        var context = Node("Transpose", [Node("MatMul", [probs, v])], [("perm", new long[] { 0, 2, 1, 3 })]);
        context = Node("Reshape", [context, hiddenShape]);
        var attention = LayerNorm(Node("Add", [Linear(context, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm");

        var output = Node("Add", [Linear(Gelu(Linear(attention, p + "intermediate.dense")), p + "output.dense"), attention]);
        return LayerNorm(output, p + "output.LayerNorm");
    }

    /// <summary>Exact GELU: x · ½ · (1 + erf(x / √2)), the form ORT fuses into its Gelu kernel.</summary>
    internal string Gelu(string x)
    {
        var erf = Node("Erf", [Node("Div", [x, Scalar("sqrt2", MathF.Sqrt(2f))])]);
        return Node("Mul", [Node("Mul", [x, Node("Add", [erf, Scalar("one", 1f)])]), Scalar("half", 0.5f)]);
    }

    /// <summary>
    /// x (batch, sequence, in) times a weight kept [out, in] under <paramref name="weight"/> plus <paramref name="bias"/>,
    /// as a Gemm with transB over the flattened rows: the masked-LM decoder is the word-embedding matrix, which the
    /// graph already holds [vocab, hidden] for the embedding Gather, so it is read in place rather than stored twice.
    /// </summary>
    internal string HeadLinearTransposed(string x, string weight, string bias)
    {
        var w = _weights.Get(weight);
        var name = weight.StartsWith(StateDict.EncoderPrefix, StringComparison.Ordinal) ? Weight(weight[StateDict.EncoderPrefix.Length..]) : Head(weight);
        var flat = Node("Reshape", [x, Int64s($"rows_of_{w.Shape[1]}", [-1, w.Shape[1]])]);
        var rows = Node("Gemm", [flat, name, Head(bias)], [("transB", 1L)]);
        var leading = Node("Slice", [Node("Shape", [x]), Int64s("zero_1d", [0]), Int64s("two_1d", [2]), Int64s("zero_1d", [0])]);
        var shape = Node("Concat", [leading, Int64s($"width_{w.Shape[0]}", [w.Shape[0]])], [("axis", 0L)]);
        return Node("Reshape", [rows, shape]);
    }

    /// <summary>A head's LayerNorm <paramref name="module"/> (weights under the head's own names).</summary>
    internal string HeadLayerNorm(string x, string module) => LayerNorm(x, module, Head);

    private string Linear(string x, string module) =>
        MatMulLinear(x, StateDict.EncoderPrefix + module, _prefix + module);

    /// <summary>A head's linear layer <paramref name="module"/> on a 3-D value: MatMul with the weight stored [in, out], then Add.</summary>
    internal string HeadLinear3D(string x, string module) => MatMulLinear(x, module, module);

    private string MatMulLinear(string x, string checkpointModule, string onnxModule)
    {
        var w = _weights.Get(checkpointModule + ".weight");
        var name = onnxModule + ".weight";
        Add(Initializer(name, [w.Shape[1], w.Shape[0]], Transpose(w)));
        return Node("Add", [Node("MatMul", [x, name]), Add(onnxModule + ".bias", _weights.Get(checkpointModule + ".bias"))]);
    }

    private string LayerNorm(string x, string module) => LayerNorm(x, module, Weight);

    private string LayerNorm(string x, string module, Func<string, string> weight)
    {
        var gamma = weight(module + ".weight");
        var beta = weight(module + ".bias");
        float eps = _config.LayerNormEps;
        if (_opset >= 17) return Node("LayerNormalization", [x, gamma, beta], [("axis", -1L), ("epsilon", eps)]);
        // Before opset 17 there is no LayerNormalization: the decomposition PyTorch exports, which ORT fuses back.
        var axes = ("axes", new long[] { -1 });
        var centered = Node("Sub", [x, Node("ReduceMean", [x], [axes])]);
        var variance = Node("ReduceMean", [Node("Pow", [centered, Scalar("two", 2f)])], [axes]);
        var std = Node("Sqrt", [Node("Add", [variance, Scalar(module + ".eps", eps)])]);
        return Node("Add", [Node("Mul", [Node("Div", [centered, std]), gamma]), beta]);
    }

    // Encoder weights are read under "bert." and stored under the graph's prefix; heads keep their own names.
    private string Weight(string name) => Add(_prefix + name, _weights.Get(StateDict.EncoderPrefix + name));

    private string Head(string name) => Add(name, _weights.Get(name));

    private string Add(string onnxName, FloatTensor t)
    {
        if (!_initializers.Contains(onnxName)) Add(Initializer(onnxName, t.Shape, t.Data));
        return onnxName;
    }

    private void Add(TensorProto t)
    {
        _initializers.Add(t.Name);
        _graph.Initializer.Add(t);
    }

    private string Scalar(string name, float value)
    {
        if (!_initializers.Contains(name)) Add(Initializer(name, [], [value]));
        return name;
    }

    private string Int64s(string name, long[] values)
    {
        if (_initializers.Contains(name)) return name;
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Add(t);
        return name;
    }

    private string Int64Scalar(string name, long value)
    {
        if (_initializers.Contains(name)) return name;
        Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });
        return name;
    }

    private static TensorProto Initializer(string name, int[] shape, ReadOnlySpan<float> data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        foreach (var d in shape) t.Dims.Add(d);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data));
        return t;
    }

    private static float[] Transpose(FloatTensor w)
    {
        int rows = w.Shape[0], cols = w.Shape[1];
        var t = new float[w.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[c * rows + r] = w.Data[r * cols + c];
        return t;
    }

    internal string Node(string op, string[] inputs, (string Name, object Value)[]? attributes = null, string? output = null)
    {
        int id = _nextId++;
        var node = new NodeProto { OpType = op, Name = $"{op}_{id}" };
        node.Input.AddRange(inputs);
        output ??= $"{op}_{id}_out";
        node.Output.Add(output);
        foreach (var (name, value) in attributes ?? [])
        {
            var a = new AttributeProto { Name = name };
            switch (value)
            {
                case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
                case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
                case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
                default: throw new ArgumentException($"attribute {name}: unsupported type {value.GetType()}");
            }
            node.Attribute.Add(a);
        }
        _graph.Node.Add(node);
        return output;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string p ? new TensorShapeProto.Types.Dimension { DimParam = p } : new TensorShapeProto.Types.Dimension { DimValue = (int)d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
