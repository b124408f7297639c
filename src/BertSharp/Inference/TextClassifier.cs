using System.Numerics.Tensors;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>
/// A fine-tuned classifier ready to predict: loads a directory that <c>bertsharp train</c> (or Hugging
/// Face's <c>save_pretrained</c>) wrote and turns texts into labels with probabilities.
/// </summary>
public sealed class TextClassifier
{
    private TextClassifier(BertForSequenceClassification model, BertTokenizer tokenizer, IReadOnlyList<string> labels, int maxLength, string source)
    {
        Model = model;
        Tokenizer = tokenizer;
        Labels = labels;
        MaxLength = maxLength;
        Source = source;
    }

    public BertForSequenceClassification Model { get; }
    public BertTokenizer Tokenizer { get; }

    /// <summary>Label names by id, from config.json's id2label.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Tokens per window, from tokenizer_config.json's model_max_length (at most the position table).</summary>
    public int MaxLength { get; }

    public string Source { get; }

    /// <summary>Loads a fine-tuned model directory (config.json with id2label, vocab.txt, model.safetensors).</summary>
    public static TextClassifier Load(string directory)
    {
        var pretrained = PretrainedModel.Load(directory);
        var config = pretrained.Config;
        if (!pretrained.Weights.ContainsKey("classifier.weight"))
            throw new InvalidDataException($"{directory}: the model has no classifier.weight; it is a base encoder, not a fine-tuned classifier (train one with 'bertsharp train')");
        var labels = LabelNames(config, pretrained.Weights.Get("classifier.weight").Shape[0], directory);
        var model = new BertForSequenceClassification(config, pretrained.Weights);
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        int maxLength = Math.Min(pretrained.ModelMaxLength, config.MaxPositionEmbeddings);
        return new TextClassifier(model, tokenizer, labels, maxLength, directory);
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
        int k = Labels.Count;
        var options = new EncodeOptions
        {
            MaxLength = MaxLength,
            ReturnOverflowing = longText == LongTextStrategy.Chunk,
            Stride = longText == LongTextStrategy.Chunk ? MaxLength / 4 : 0,
        };
        var encodings = Tokenizer.EncodeBatch(texts, pairs, options, PaddingStrategy.DoNotPad);

        // Every window of every text, then classify windows in length order.
        var windows = new List<(Encoding Encoding, int Text)>();
        for (int i = 0; i < encodings.Length; i++)
        {
            windows.Add((encodings[i], i));
            foreach (var o in encodings[i].Overflowing) windows.Add((o, i));
        }
        windows.Sort((a, b) => a.Encoding.Length.CompareTo(b.Encoding.Length));
        var sums = new float[texts.Count * k];
        var counts = new int[texts.Count];
        Span<float> p = k <= 256 ? stackalloc float[k] : new float[k];
        for (int start = 0; start < windows.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, windows.Count - start);
            var input = Pad(windows, start, n);
            var logits = Model.Logits(input);
            for (int r = 0; r < n; r++)
            {
                TensorPrimitives.SoftMax(logits.AsSpan(r * k, k), p);
                int text = windows[start + r].Text;
                TensorPrimitives.Add(sums.AsSpan(text * k, k), p, sums.AsSpan(text * k, k));
                counts[text]++;
            }
        }
        for (int i = 0; i < texts.Count; i++) TensorPrimitives.Divide(sums.AsSpan(i * k, k), counts[i], sums.AsSpan(i * k, k));
        return sums;
    }

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
