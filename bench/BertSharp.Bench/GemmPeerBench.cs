using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using BertSharp.Tensors;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BertSharp.Bench;

/// <summary>
/// The forward pass's products, y = x·Wᵀ + b at MiniLM's widths with the weight packed, against ONNX Runtime's
/// MLAS on the same operands in the same process: one MatMul-and-Add graph per weight copy, its calls taking turns
/// with ours, and each side cycling through its copies so that both read the weights from memory, as a pass does.
/// </summary>
/// <remarks>
/// <c>gemm-peer [seconds per shape] [rows, comma-separated] [threads, comma-separated] [weight copies]</c>.
/// On two threads ONNX Runtime's workers do not spin between calls: spinning, they held a core through our next call
/// and halved its rate. Both engines sum each output in the same order, so the largest difference is printed too.
/// </remarks>
internal static class GemmPeerBench
{
    private static readonly (string Name, int N, int K)[] Weights =
    [
        ("QKV", 1152, 384),
        ("attention out", 384, 384),
        ("FFN up", 1536, 384),
        ("FFN down", 384, 1536),
    ];

    public static int Run(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 2;
        int[] rows = args.Length > 1 ? Ints(args[1]) : [16, 32, 64, 256, 512];
        int[] threadCounts = args.Length > 2 ? Ints(args[2]) : [1, 2];
        int copies = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 8;
        Console.WriteLine($"kernel: {Gemm.Path}; {copies} copies of each weight, cycled; {seconds} s per shape, calls alternating");
        Console.WriteLine($"{"threads",7} {"rows",5} {"weight",-14} {"n × k",-11} {"ours GFLOP/s",12} {"ORT GFLOP/s",11} {"ours / ORT",10} {"max |diff|",10}");
        foreach (int threads in threadCounts)
            foreach (int m in rows)
                foreach (var (name, n, k) in Weights)
                {
                    var (ours, ort, diff) = Measure(m, n, k, threads, copies, seconds);
                    Console.WriteLine($"{threads,7} {m,5} {name,-14} {$"{n} × {k}",-11} {ours,12:F1} {ort,11:F1} {ours / ort,10:F3} {diff,10:G2}");
                }
        Gemm.MaxThreads = Environment.ProcessorCount;
        return 0;
    }

    private static (double Ours, double Ort, double MaxDiff) Measure(int m, int n, int k, int threads, int copies, double seconds)
    {
        Gemm.MaxThreads = threads;
        var rng = new Random(m + n + k);
        var x = Fill(rng, m * k);
        var w = Fill(rng, n * k); // [out, in], as a Linear layer stores it
        var bias = Fill(rng, n);
        var packed = Enumerable.Range(0, copies).Select(_ => PackedMatrix.Pack(true, k, n, w, k)).ToArray();
        var sessions = Enumerable.Range(0, copies).Select(_ => Session(m, n, k, w, bias, threads)).ToArray();
        try
        {
            var ours = new float[m * n];
            var theirs = new float[m * n];
            using var input = OrtValue.CreateTensorValueFromMemory(x, [m, k]);
            using var output = OrtValue.CreateTensorValueFromMemory(theirs, [m, n]);
            using var options = new RunOptions();
            string[] inputNames = ["x"], outputNames = ["y"];
            OrtValue[] inputs = [input], outputs = [output];
            Gemm.Multiply(false, m, n, k, 1, x, k, packed[0], bias, 0, ours, n);
            sessions[0].Run(options, inputNames, inputs, outputNames, outputs);
            double maxDiff = 0;
            for (int i = 0; i < ours.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(ours[i] - theirs[i]));

            double oursTime = 0, ortTime = 0;
            int calls = 0;
            var window = Stopwatch.StartNew();
            while (window.Elapsed.TotalSeconds < seconds || calls < 3)
            {
                long t0 = Stopwatch.GetTimestamp();
                Gemm.Multiply(false, m, n, k, 1, x, k, packed[calls % copies], bias, 0, ours, n);
                oursTime += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                t0 = Stopwatch.GetTimestamp();
                sessions[calls % copies].Run(options, inputNames, inputs, outputNames, outputs);
                ortTime += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                calls++;
            }
            double flops = 2.0 * m * n * k * calls / 1e9;
            return (flops / oursTime, flops / ortTime, maxDiff);
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    // y = x·Wᵀ + b as a graph: W's transpose an initializer of MatMul, which ONNX Runtime prepacks for MLAS.
    private static InferenceSession Session(int m, int n, int k, float[] w, float[] bias, int threads)
    {
        var wt = new float[k * n];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++) wt[c * n + r] = w[r * k + c];
        var graph = new GraphProto { Name = "linear" };
        graph.Input.Add(Value("x", m, k));
        graph.Output.Add(Value("y", m, n));
        graph.Initializer.Add(Tensor("w", [k, n], wt));
        graph.Initializer.Add(Tensor("b", [n], bias));
        graph.Node.Add(Node("MatMul", ["x", "w"], "xw"));
        graph.Node.Add(Node("Add", ["xw", "b"], "y"));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return new InferenceSession(model.ToByteArray(), options);
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = op };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    private static TensorProto Tensor(string name, int[] shape, float[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(shape.Select(d => (long)d));
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
        return t;
    }

    private static ValueInfoProto Value(string name, params int[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (int d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static int[] Ints(string list) => list.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

    private static float[] Fill(Random rng, int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}
