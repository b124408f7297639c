using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace BertSharp.IO;

/// <summary>
/// Dynamic int8 quantisation of an exported graph, as onnxruntime's <c>quantize_dynamic</c> does it:
/// each MatMul with a weight initializer becomes
/// <c>DynamicQuantizeLinear(x) → MatMulInteger(x_u8, W_s8, x_zero) → Cast → Mul(x_scale · w_scale)</c>,
/// with weights quantised symmetrically per output channel (zero point 0, scale = max|column| / 127).
/// ONNX Runtime fuses that chain into its DynamicQuantizeMatMul kernel. Activations that feed several
/// MatMuls (query, key and value) are quantised once. The embeddings, attention products, pooler and
/// classifier stay fp32: they are a small share of the work and the most sensitive to rounding.
/// </summary>
internal static class OnnxExporterInt8
{
    public static void Quantize(ModelProto model)
    {
        var graph = model.Graph;
        var initializers = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer) initializers[t.Name] = t;
        var quantized = new Dictionary<string, (string Values, string Scale)>(StringComparer.Ordinal);
        var activations = new Dictionary<string, (string Values, string Scale, string Zero)>(StringComparer.Ordinal);
        var nodes = new List<NodeProto>(graph.Node.Count * 2);
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || !initializers.TryGetValue(node.Input[1], out var w) || w.Dims.Count != 2)
            {
                nodes.Add(node);
                continue;
            }
            if (!quantized.TryGetValue(w.Name, out var wq))
            {
                var (values, scale) = QuantizePerColumn(w);
                graph.Initializer.Remove(w);
                graph.Initializer.Add(values);
                graph.Initializer.Add(scale);
                quantized[w.Name] = wq = (values.Name, scale.Name);
            }
            var x = node.Input[0];
            if (!activations.TryGetValue(x, out var xq))
            {
                xq = (x + "_quantized", x + "_scale", x + "_zero_point");
                nodes.Add(Node("DynamicQuantizeLinear", x + "_QuantizeLinear", [x], [xq.Values, xq.Scale, xq.Zero]));
                activations[x] = xq;
            }
            var o = node.Output[0];
            nodes.Add(Node("MatMulInteger", node.Name + "_MatMulInteger", [xq.Values, wq.Values, xq.Zero], [o + "_int32"]));
            var cast = Node("Cast", node.Name + "_Cast", [o + "_int32"], [o + "_float"]);
            cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
            nodes.Add(cast);
            nodes.Add(Node("Mul", node.Name + "_scales", [xq.Scale, wq.Scale], [o + "_scale"]));
            nodes.Add(Node("Mul", node.Name + "_rescale", [o + "_float", o + "_scale"], [o]));
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
    }

    private static (TensorProto Values, TensorProto Scale) QuantizePerColumn(TensorProto w)
    {
        int rows = (int)w.Dims[0], cols = (int)w.Dims[1];
        var data = OnnxTensors.Floats(w, w.Name, null);
        var scales = new float[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                scales[c] = MathF.Max(scales[c], MathF.Abs(data[r * cols + c]));
        for (int c = 0; c < cols; c++) scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        var q = new sbyte[data.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                q[r * cols + c] = (sbyte)Math.Clamp(MathF.Round(data[r * cols + c] / scales[c], MidpointRounding.ToEven), -127f, 127f);

        var values = new TensorProto { Name = w.Name + "_quantized", DataType = (int)TensorProto.Types.DataType.Int8 };
        values.Dims.Add(rows);
        values.Dims.Add(cols);
        values.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(q.AsSpan()));
        var scale = new TensorProto { Name = w.Name + "_scale", DataType = (int)TensorProto.Types.DataType.Float };
        scale.Dims.Add(cols);
        scale.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(scales.AsSpan()));
        return (values, scale);
    }

    private static NodeProto Node(string op, string name, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }
}
