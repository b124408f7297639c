using System.Numerics.Tensors;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>
/// The text-classification pipeline: loads a directory that <c>bertsharp train</c> (or Hugging Face's
/// <c>save_pretrained</c>) wrote and turns texts into scores — softmax probabilities (single-label), a sigmoid
/// per label (multi-label) or a value (regression) — on the managed encoder or on ONNX Runtime.
/// Safe to call from several threads.
/// </summary>
public sealed class TextClassifier : Pipeline
{
    internal TextClassifier(PretrainedModel pretrained, IModelRuntime runtime) : base(pretrained, runtime)
    {
        var config = BertForSequenceClassification.Resolve(Config, options: null);
        ProblemType = config.ProblemType!.Value;
        Labels = LabelNames(config, runtime, pretrained);
    }

    /// <summary>The managed model; only with <see cref="InferenceRuntime.Managed"/>.</summary>
    /// <exception cref="NotSupportedException">The pipeline runs on ONNX Runtime.</exception>
    public new BertForSequenceClassification Model => (BertForSequenceClassification)base.Model;

    /// <summary>Label names by id, from config.json's id2label.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Single-label, multi-label or regression, from config.json's problem_type.</summary>
    public ProblemType ProblemType { get; }

    /// <summary>The score from which a multi-label prediction includes a label.</summary>
    public float Threshold { get; init; } = 0.5f;

    /// <summary>Loads a fine-tuned model directory (config.json with id2label, vocab.txt, model.safetensors) on the managed runtime.</summary>
    public static TextClassifier Load(string directory) => Load(directory, InferenceRuntime.Managed);

    /// <summary>Loads a fine-tuned model directory to run on the given engine.</summary>
    /// <param name="directory">The model directory; <see cref="InferenceRuntime.Onnx"/> also needs its <c>model.onnx</c>.</param>
    /// <param name="runtime">The engine for the forward pass.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (0: one per core); the managed encoder uses every core.</param>
    public static new TextClassifier Load(string directory, InferenceRuntime runtime, int threads = 0)
    {
        var pipeline = Pipeline.Load(directory, runtime, threads);
        if (pipeline is TextClassifier classifier) return classifier;
        pipeline.Dispose();
        throw new InvalidDataException($"{directory}: the model is a {pipeline.Config.Architectures?.FirstOrDefault()}, not a text classifier");
    }

    /// <summary>Classifies one text (or a text pair).</summary>
    public Prediction Predict(string text, string? pair = null) =>
        PredictBatch([text], pair is null ? null : [pair])[0];

    /// <summary>Classifies many texts, batched by length so that little is padded.</summary>
    public IReadOnlyList<Prediction> PredictBatch(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        LongTextStrategy longText = LongTextStrategy.Truncate, int batchSize = 32)
    {
        var scores = Probabilities(texts, pairs, longText, batchSize);
        int k = Labels.Count;
        var result = new Prediction[texts.Count];
        for (int i = 0; i < texts.Count; i++) result[i] = ToPrediction(scores.AsSpan(i * k, k));
        return result;
    }

    /// <summary>Scores [texts × labels] in label-id order: probabilities, per-label sigmoids, or values (regression).</summary>
    public float[] Probabilities(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        LongTextStrategy longText = LongTextStrategy.Truncate, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var options = new EncodeOptions
        {
            MaxLength = MaxLength,
            ReturnOverflowing = longText == LongTextStrategy.Chunk,
            Stride = longText == LongTextStrategy.Chunk ? MaxLength / 4 : 0,
        };
        return Probabilities(Tokenizer.EncodeBatch(texts, pairs, options, PaddingStrategy.DoNotPad), batchSize);
    }

    /// <summary>Scores [encodings × labels] of texts already tokenized (see <see cref="Pipeline.Encode"/>); overflow windows are averaged.</summary>
    public float[] Probabilities(IReadOnlyList<TokenEncoding> encodings, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int k = Labels.Count;
        // Every window of every text, then classify windows in length order.
        var windows = new List<TokenEncoding>();
        var owner = new List<int>();
        for (int i = 0; i < encodings.Count; i++)
        {
            windows.Add(encodings[i]);
            owner.Add(i);
            foreach (var o in encodings[i].Overflowing)
            {
                windows.Add(o);
                owner.Add(i);
            }
        }
        var sums = new float[encodings.Count * k];
        var counts = new int[encodings.Count];
        foreach (var (input, rows) in Batches(windows, batchSize))
        {
            var logits = Run(input);
            Training.SequenceClassificationTask.Scores(ProblemType, logits, rows.Length, k);
            for (int r = 0; r < rows.Length; r++)
            {
                int text = owner[rows[r]];
                TensorPrimitives.Add(sums.AsSpan(text * k, k), logits.AsSpan(r * k, k), sums.AsSpan(text * k, k));
                counts[text]++;
            }
        }
        for (int i = 0; i < encodings.Count; i++) TensorPrimitives.Divide(sums.AsSpan(i * k, k), counts[i], sums.AsSpan(i * k, k));
        return sums;
    }

    // Single-label and regression: the top label. Multi-label: every label at or above the threshold (the
    // top one when none is), each with its own score.
    private Prediction ToPrediction(ReadOnlySpan<float> scores)
    {
        var pairs = new KeyValuePair<string, float>[scores.Length];
        for (int c = 0; c < pairs.Length; c++) pairs[c] = new(Labels[c], scores[c]);
        Array.Sort(pairs, (a, b) => b.Value.CompareTo(a.Value));
        IReadOnlyList<string> chosen = ProblemType == ProblemType.MultiLabelClassification
            ? [.. pairs.Where(p => p.Value >= Threshold).Select(p => p.Key)]
            : [pairs[0].Key];
        return new Prediction(pairs[0].Key, pairs[0].Value, pairs) { Labels = chosen };
    }

    private static string[] LabelNames(BertConfig config, IModelRuntime runtime, PretrainedModel pretrained)
    {
        int outputs = runtime switch
        {
            ManagedRuntime m => ((BertForSequenceClassification)m.Model).NumLabels,
            IGraphRuntime o => o.OutputWidth,
            _ => throw new ArgumentOutOfRangeException(nameof(runtime)),
        };
        if (runtime is IGraphRuntime onnx && pretrained.Weights.TryGetValue("classifier.weight", out var w) && w.Shape[0] != outputs)
            throw new InvalidDataException($"{onnx.ModelPath}: the graph outputs {outputs} logits but {pretrained.Source} has {w.Shape[0]} labels; export the model again");
        if (config.Id2Label is not null && config.Id2Label.Count != outputs)
            throw new InvalidDataException($"{pretrained.Source}: config.json's id2label has {config.Id2Label.Count} labels but the classifier has {outputs} outputs");
        var names = new string[outputs];
        for (int i = 0; i < outputs; i++)
        {
            var key = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            names[i] = config.Id2Label is not null && config.Id2Label.TryGetValue(key, out var name) ? name : $"LABEL_{i}";
        }
        return names;
    }
}
