using BertSharp.Model;
using Microsoft.ML.OnnxRuntime;

namespace BertSharp.Inference;

/// <summary>
/// Runs an exported task model (an ONNX graph with inputs <c>input_ids</c>, <c>attention_mask</c>,
/// <c>token_type_ids</c> and output <c>logits</c> — [batch, labels] for a sequence classifier, [batch, sequence,
/// width] for a per-token head — as <c>bertsharp export-onnx</c> writes it) through ONNX Runtime on the CPU:
/// the <c>--runtime onnx</c> engine. Thread-safe: ONNX Runtime sessions accept concurrent runs.
/// </summary>
public sealed class OnnxRuntimeModel : IGraphRuntime
{
    /// <summary>The file name looked for in a model directory when the ONNX runtime is asked for.</summary>
    public const string FileName = "model.onnx";

    private static readonly string[] KnownInputs = ["input_ids", "attention_mask", "token_type_ids"];
    private static readonly string[] Outputs = ["logits"];

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;

    /// <summary>Opens an .onnx file, or <see cref="FileName"/> inside a model directory.</summary>
    /// <param name="path">The .onnx file or the directory holding it.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads.</param>
    public OnnxRuntimeModel(string path, int threads)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        if (Directory.Exists(path))
        {
            var file = Path.Combine(path, FileName);
            if (!File.Exists(file))
                throw new FileNotFoundException($"{path}: no {FileName}; create it with: bertsharp export-onnx --model {path}", file);
            path = file;
        }
        else if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such ONNX file", path);

        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try { _session = new InferenceSession(path, options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"{path}: ONNX Runtime cannot load it ({e.Message})", e); }
        try
        {
            ModelPath = path;
            _inputNames = [.. _session.InputMetadata.Keys.Where(KnownInputs.Contains)];
            if (!_session.OutputMetadata.TryGetValue("logits", out var logits))
                throw new InvalidDataException($"{path}: the graph has no output 'logits' (outputs: {string.Join(", ", _session.OutputMetadata.Keys)}); export a task model with bertsharp export-onnx");
            if (!_inputNames.Contains("input_ids"))
                throw new InvalidDataException($"{path}: the graph has no input 'input_ids' (inputs: {string.Join(", ", _session.InputMetadata.Keys)})");
            var unknown = _session.InputMetadata.Keys.Where(k => !KnownInputs.Contains(k)).ToList();
            if (unknown.Count > 0)
                throw new InvalidDataException($"{path}: unexpected graph input(s) {string.Join(", ", unknown)}; expected {string.Join(", ", KnownInputs)}");
            if (logits.Dimensions is not ([_, > 0] or [_, _, > 0]))
                throw new InvalidDataException($"{path}: output 'logits' has shape [{string.Join(", ", logits.Dimensions)}]; expected [batch, labels] or [batch, sequence, width] with a fixed last dimension");
            OutputWidth = logits.Dimensions[^1];
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public int OutputWidth { get; }

    /// <inheritdoc/>
    public InferenceRuntime Kind => InferenceRuntime.Onnx;

    /// <inheritdoc/>
    public string ModelPath { get; }

    /// <summary>Returns the output <c>logits</c>, row-major.</summary>
    public float[] Run(BertInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        input.Validate();
        long[] shape = [input.BatchSize, input.SequenceLength];
        var values = new OrtValue[_inputNames.Length];
        try
        {
            for (int i = 0; i < values.Length; i++)
            {
                var ids = _inputNames[i] switch { "input_ids" => input.InputIds, "attention_mask" => input.AttentionMask, _ => input.TokenTypeIds };
                var longs = new long[ids.Length];
                for (int j = 0; j < ids.Length; j++) longs[j] = ids[j];
                values[i] = OrtValue.CreateTensorValueFromMemory(longs, shape);
            }
            using var results = _session.Run(_runOptions, _inputNames, values, Outputs);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values) v?.Dispose();
        }
    }

    /// <summary>Releases the session.</summary>
    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
