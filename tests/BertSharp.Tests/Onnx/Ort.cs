using BertSharp.Model;
using Microsoft.ML.OnnxRuntime;

namespace BertSharp.Tests.Onnx;

/// <summary>A plain ONNX Runtime session over a file, with the graph optimisation level chosen by the test.</summary>
internal sealed class Ort : IDisposable
{
    private readonly InferenceSession _session;

    public Ort(string path, bool optimize, int threads = 2)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            GraphOptimizationLevel = optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
        };
        _session = new InferenceSession(path, options);
    }

    public IReadOnlyDictionary<string, NodeMetadata> Outputs => _session.OutputMetadata;

    public Dictionary<string, (long[] Shape, float[] Data)> Run(BertInput input, params string[] outputs)
    {
        long[] shape = [input.BatchSize, input.SequenceLength];
        using var ids = OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(input.InputIds, i => (long)i), shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(input.AttentionMask, i => (long)i), shape);
        using var types = OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(input.TokenTypeIds, i => (long)i), shape);
        using var options = new RunOptions();
        using var results = _session.Run(options, ["input_ids", "attention_mask", "token_type_ids"], [ids, mask, types], outputs);
        var map = new Dictionary<string, (long[], float[])>();
        for (int i = 0; i < outputs.Length; i++)
            map[outputs[i]] = (results[i].GetTensorTypeAndShape().Shape, results[i].GetTensorDataAsSpan<float>().ToArray());
        return map;
    }

    public void Dispose() => _session.Dispose();
}
