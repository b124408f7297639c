using BertSharp.Tensors;
using System.Numerics.Tensors;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>
/// A fine-tuned classifier ready to predict: loads a directory that <c>bertsharp train</c> (or Hugging
/// Face's <c>save_pretrained</c>) wrote and turns texts into labels with probabilities, on the managed
/// encoder or on ONNX Runtime (<see cref="InferenceRuntime"/>). Safe to call from several threads.
/// </summary>
public sealed class TextClassifier : IDisposable
{
    private readonly BertForSequenceClassification? _model;
    private readonly OnnxRuntimeClassifier? _onnx;

    private TextClassifier(BertForSequenceClassification? model, OnnxRuntimeClassifier? onnx, BertConfig config, long parameterCount,
        BertTokenizer tokenizer, IReadOnlyList<string> labels, int maxLength, string source)
    {
        _model = model;
        _onnx = onnx;
        Runtime = onnx is null ? InferenceRuntime.Managed : InferenceRuntime.Onnx;
        Config = config;
        ParameterCount = parameterCount;
        Tokenizer = tokenizer;
        Labels = labels;
        MaxLength = maxLength;
        Source = source;
    }

    /// <summary>The managed model; only with <see cref="InferenceRuntime.Managed"/>.</summary>
    /// <exception cref="NotSupportedException">The classifier runs on ONNX Runtime.</exception>
    public BertForSequenceClassification Model => _model
        ?? throw new NotSupportedException($"{Source}: loaded with the onnx runtime, which runs the exported graph only (logits); load with the managed runtime for the model's internals");

    public BertTokenizer Tokenizer { get; }

    /// <summary>The engine that runs the forward pass.</summary>
    public InferenceRuntime Runtime { get; }

    /// <summary>The model's config.json (sizes, labels).</summary>
    public BertConfig Config { get; }

    /// <summary>Weights in the checkpoint: encoder, pooler and classifier.</summary>
    public long ParameterCount { get; }

    /// <summary>Label names by id, from config.json's id2label.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Tokens per window, from tokenizer_config.json's model_max_length (at most the position table).</summary>
    public int MaxLength { get; }

    public string Source { get; }

    /// <summary>Loads a fine-tuned model directory (config.json with id2label, vocab.txt, model.safetensors) on the managed runtime.</summary>
    public static TextClassifier Load(string directory) => Load(directory, InferenceRuntime.Managed);

    /// <summary>Loads a fine-tuned model directory to run on the given engine.</summary>
    /// <param name="directory">The model directory; <see cref="InferenceRuntime.Onnx"/> also needs its <c>model.onnx</c>.</param>
    /// <param name="runtime">The engine for the forward pass.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (0: one per core); the managed encoder uses every core.</param>
    public static TextClassifier Load(string directory, InferenceRuntime runtime, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        var pretrained = PretrainedModel.Load(directory);
        var config = pretrained.Config;
        if (!pretrained.Weights.ContainsKey("classifier.weight"))
            throw new InvalidDataException($"{directory}: the model has no classifier.weight; it is a base encoder, not a fine-tuned classifier (train one with 'bertsharp train')");
        var labels = LabelNames(config, pretrained.Weights.Get("classifier.weight").Shape[0], directory);
        long parameters = 0;
        foreach (var (_, t) in pretrained.Weights) parameters += t.Length;
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        int maxLength = Math.Min(pretrained.ModelMaxLength, config.MaxPositionEmbeddings);
        if (runtime == InferenceRuntime.Managed)
            return new TextClassifier(new BertForSequenceClassification(config, pretrained.Weights), null, config, parameters, tokenizer, labels, maxLength, directory);
        if (runtime != InferenceRuntime.Onnx) throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "unknown runtime");

        var onnx = new OnnxRuntimeClassifier(directory, threads == 0 ? Environment.ProcessorCount : threads);
        if (onnx.NumLabels != labels.Length)
        {
            onnx.Dispose();
            throw new InvalidDataException($"{onnx.ModelPath}: the graph outputs {onnx.NumLabels} logits but {directory}/config.json has {labels.Length} labels; export the model again");
        }
        return new TextClassifier(null, onnx, config, parameters, tokenizer, labels, maxLength, directory);
    }

    /// <summary>
    /// What runs the managed model's matrix products (<see cref="BertModel.Provider"/>); always
    /// <see cref="ComputeProvider.Managed"/> on ONNX Runtime, where setting another is an error.
    /// </summary>
    public ComputeProvider Provider
    {
        get => _model?.Provider ?? ComputeProvider.Managed;
        set
        {
            if (_model is null && value != ComputeProvider.Managed)
                throw new InvalidOperationException($"{Source}: the {value} provider runs the managed model; this classifier runs on ONNX Runtime");
            if (_model is not null) _model.Provider = value;
        }
    }

    /// <summary>Classifies one text (or a text pair).</summary>
    public Prediction Predict(string text, string? pair = null) =>
        PredictBatch([text], pair is null ? null : [pair])[0];

    /// <summary>Classifies many texts, batched by length so that little is padded.</summary>
    public IReadOnlyList<Prediction> PredictBatch(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        LongTextStrategy longText = LongTextStrategy.Truncate, int batchSize = 32)
    {
        var probabilities = Probabilities(texts, pairs, longText, batchSize);
        int k = Labels.Count;
        var result = new Prediction[texts.Count];
        for (int i = 0; i < texts.Count; i++) result[i] = ToPrediction(probabilities.AsSpan(i * k, k));
        return result;
    }

    /// <summary>Probabilities [texts × labels] in label-id order.</summary>
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

    /// <summary>Tokenizes one text (or pair) the way the model reads it: truncated to <see cref="MaxLength"/>.</summary>
    public Encoding Encode(string text, string? pair = null) => Tokenizer.Encode(text, pair, new EncodeOptions { MaxLength = MaxLength });

    /// <summary>Probabilities [encodings × labels] of texts already tokenized (see <see cref="Encode"/>); overflow windows are averaged.</summary>
    public float[] Probabilities(IReadOnlyList<Encoding> encodings, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int k = Labels.Count;
        // Every window of every text, then classify windows in length order.
        var windows = new List<(Encoding Encoding, int Text)>();
        for (int i = 0; i < encodings.Count; i++)
        {
            windows.Add((encodings[i], i));
            foreach (var o in encodings[i].Overflowing) windows.Add((o, i));
        }
        windows.Sort((a, b) => a.Encoding.Length.CompareTo(b.Encoding.Length));
        var sums = new float[encodings.Count * k];
        var counts = new int[encodings.Count];
        Span<float> p = k <= 256 ? stackalloc float[k] : new float[k];
        for (int start = 0; start < windows.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, windows.Count - start);
            var input = Pad(windows, start, n);
            var logits = _onnx is null ? _model!.Logits(input) : _onnx.Logits(input);
            for (int r = 0; r < n; r++)
            {
                TensorPrimitives.SoftMax(logits.AsSpan(r * k, k), p);
                int text = windows[start + r].Text;
                TensorPrimitives.Add(sums.AsSpan(text * k, k), p, sums.AsSpan(text * k, k));
                counts[text]++;
            }
        }
        for (int i = 0; i < encodings.Count; i++) TensorPrimitives.Divide(sums.AsSpan(i * k, k), counts[i], sums.AsSpan(i * k, k));
        return sums;
    }

    /// <summary>
    /// Sentence embeddings [texts × hidden]: the encoder's last hidden state averaged over each text's
    /// tokens ([CLS] and [SEP] included, padding not), then scaled to unit length, as sentence-transformers'
    /// mean pooling with normalisation does. Managed runtime only.
    /// </summary>
    /// <exception cref="NotSupportedException">The classifier runs on ONNX Runtime, whose graph outputs logits only.</exception>
    public float[] Embed(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return Embed(Tokenizer.EncodeBatch(texts, pairs, new EncodeOptions { MaxLength = MaxLength }, PaddingStrategy.DoNotPad), batchSize);
    }

    /// <summary><see cref="Embed(IReadOnlyList{string}, IReadOnlyList{string}, int)"/> of texts already tokenized (see <see cref="Encode"/>).</summary>
    public float[] Embed(IReadOnlyList<Encoding> encodings, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var bert = Model.Bert;
        int C = Config.HiddenSize;
        var windows = new List<(Encoding Encoding, int Text)>(encodings.Count);
        for (int i = 0; i < encodings.Count; i++) windows.Add((encodings[i], i));
        windows.Sort((a, b) => a.Encoding.Length.CompareTo(b.Encoding.Length));
        var result = new float[encodings.Count * C];
        for (int start = 0; start < windows.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, windows.Count - start);
            var input = Pad(windows, start, n);
            var hidden = bert.Forward(input).LastHiddenState.Data;
            for (int r = 0; r < n; r++)
            {
                var e = windows[start + r].Encoding;
                var row = result.AsSpan(windows[start + r].Text * C, C);
                // The text's tokens are the row's first e.Length positions; the mean's 1/n cancels in the normalisation.
                for (int t = 0; t < e.Length; t++) TensorPrimitives.Add(row, hidden.AsSpan((r * input.SequenceLength + t) * C, C), row);
                float norm = TensorPrimitives.Norm(row);
                if (norm > 0) TensorPrimitives.Divide(row, norm, row);
            }
        }
        return result;
    }

    /// <summary>Releases the ONNX Runtime session, when there is one.</summary>
    public void Dispose() => _onnx?.Dispose();

    private BertInput Pad(List<(Encoding Encoding, int Text)> windows, int start, int n)
    {
        var ids = new int[n][];
        var types = new int[n][];
        for (int r = 0; r < n; r++)
        {
            ids[r] = windows[start + r].Encoding.Ids;
            types[r] = windows[start + r].Encoding.TypeIds;
        }
        return DynamicPadding.Pad(ids, types, Tokenizer.PadId);
    }

    private Prediction ToPrediction(ReadOnlySpan<float> probabilities)
    {
        var scores = new KeyValuePair<string, float>[probabilities.Length];
        for (int c = 0; c < scores.Length; c++) scores[c] = new(Labels[c], probabilities[c]);
        Array.Sort(scores, (a, b) => b.Value.CompareTo(a.Value));
        return new Prediction(scores[0].Key, scores[0].Value, scores);
    }

    private static string[] LabelNames(BertConfig config, int numLabels, string source)
    {
        var names = new string[numLabels];
        for (int i = 0; i < numLabels; i++)
        {
            var key = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            names[i] = config.Id2Label is not null && config.Id2Label.TryGetValue(key, out var name) ? name : $"LABEL_{i}";
        }
        if (config.Id2Label is not null && config.Id2Label.Count != numLabels)
            throw new InvalidDataException($"{source}: config.json's id2label has {config.Id2Label.Count} labels but classifier.weight has {numLabels} rows");
        return names;
    }
}
