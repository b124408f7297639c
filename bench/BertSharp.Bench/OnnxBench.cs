using System.Diagnostics;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;

/// <summary>
/// Inference samples/s at batch 32, sequence 128 in ONNX Runtime (intra-op threads 2 unless given):
/// the original embedded minilm-l6 model.onnx, our fp32 export of it and our int8 export, in one
/// process on the same input (real sentences from sentence-polarity/dev.csv, whole-word ids,
/// padded or cut to 128). The models run round-robin so that machine noise hits each alike;
/// each figure is the median of the rounds.
/// </summary>
internal static class OnnxBench
{
    public static int Run(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2;
        int rounds = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 15;
        string data = args.Length > 2 ? args[2] : Path.Combine("..", "shared", "data");
        const int batch = 32, length = 128;
        var input = Input(Path.Combine(data, "sentence-polarity", "dev.csv"), batch, length);

        var dir = Directory.CreateTempSubdirectory("bertsharp-onnx-bench-").FullName;
        try
        {
            var model = PretrainedModel.Load("minilm-l6");
            var fp32 = Path.Combine(dir, "fp32.onnx");
            var int8 = Path.Combine(dir, "int8.onnx");
            OnnxExporter.Export(model, fp32);
            OnnxExporter.Export(model, int8, quantization: OnnxQuantization.Int8);
            var engines = new (string Name, OnnxRuntimeEncoder Encoder)[]
            {
                ("original model.onnx (fp32)", new OnnxRuntimeEncoder("minilm-l6", threads)),
                ("BertSharp export, fp32", new OnnxRuntimeEncoder(fp32, threads)),
                ("BertSharp export, int8", new OnnxRuntimeEncoder(int8, threads)),
            };
            var times = new double[engines.Length][];
            for (int e = 0; e < engines.Length; e++)
            {
                times[e] = new double[rounds];
                for (int w = 0; w < 3; w++) engines[e].Encoder.Run(input);
            }
            for (int r = 0; r < rounds; r++)
                for (int e = 0; e < engines.Length; e++)
                {
                    var sw = Stopwatch.StartNew();
                    engines[e].Encoder.Run(input);
                    times[e][r] = sw.Elapsed.TotalSeconds;
                }
            Console.WriteLine($"ONNX Runtime, batch {batch}, sequence {length}, intra-op threads {threads}, median of {rounds} rounds");
            double baseline = Median(times[0]);
            for (int e = 0; e < engines.Length; e++)
            {
                double m = Median(times[e]);
                Console.WriteLine($"{engines[e].Name,-28} {batch / m,8:F1} samples/s  {m * 1000,8:F1} ms/batch  ×{baseline / m:F2} vs original");
                engines[e].Encoder.Dispose();
            }
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static BertInput Input(string csv, int batch, int length)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var reader = new StreamReader(BuiltInModels.OpenVocab("minilm-l6")))
            for (var (line, i) = (reader.ReadLine(), 0); line is not null; line = reader.ReadLine(), i++) vocab.TryAdd(line, i);
        var input = new BertInput(batch, length, new int[batch * length], new int[batch * length], new int[batch * length]);
        int row = 0;
        foreach (var line in File.ReadLines(csv).Skip(1).Take(batch))
        {
            var text = line.StartsWith('"') ? line[1..line.LastIndexOf("\",", StringComparison.Ordinal)] : line[..line.LastIndexOf(',')];
            var ids = new List<int> { vocab["[CLS]"] };
            foreach (var w in text.Split(' ', StringSplitOptions.RemoveEmptyEntries)) ids.Add(vocab.GetValueOrDefault(w, vocab["[UNK]"]));
            if (ids.Count > length - 1) ids.RemoveRange(length - 1, ids.Count - (length - 1));
            ids.Add(vocab["[SEP]"]);
            for (int j = 0; j < ids.Count; j++)
            {
                input.InputIds[row * length + j] = ids[j];
                input.AttentionMask[row * length + j] = 1;
            }
            row++;
        }
        return input;
    }

    private static double Median(double[] x)
    {
        var s = (double[])x.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }
}
