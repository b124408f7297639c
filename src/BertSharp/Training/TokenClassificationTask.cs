using System.Runtime.CompilerServices;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// Training and evaluation for <see cref="BertForTokenClassification"/>: tagged sentences (<see cref="TokenDataset"/>)
/// aligned to word pieces (<see cref="TokenAlignment"/>), per-token labels padded with the ignore index, and
/// seqeval's entity-level scores on words (each word predicted at its first piece, in the window where it sits
/// furthest from an edge).
/// </summary>
internal sealed class TokenClassificationTask(LabelMap labels, int? stride = null, bool labelAllTokens = false,
    EntityMode mode = EntityMode.Default) : TaskAdapter
{
    /// <summary>Pieces shared by consecutive windows of a sentence longer than the maximum length (at most half a window).</summary>
    public const int DefaultStride = 32;

    // Which sentence and words each encoded window holds, for scoring words rather than pieces.
    private readonly ConditionalWeakTable<EncodedExample, WindowOrigin> _origins = [];
    private readonly ConditionalWeakTable<IReadOnlyList<EncodedExample>, TokenDataset> _sources = [];

    private sealed record WindowOrigin(int Sentence, int[] WordOfToken, bool[] FirstPiece);

    public LabelMap Labels { get; } = labels;

    public override IReadOnlyList<string> MetricNames => ["f1", "precision", "recall", "accuracy", "macro_f1"];

    public override string DefaultMetric => "f1";

    /// <summary>Reads CoNLL columns (the tag column from the options' label column, a 0-based index; the last by default) or JSON Lines.</summary>
    public override ITaskDataset Load(string path, DatasetLoadOptions options) => TokenDataset.Load(path, TagColumn(path, options.LabelColumn));

    /// <summary>A CoNLL tag column given as a label column: a 0-based index, or null for the last column.</summary>
    public static int? TagColumn(string path, string? labelColumn)
    {
        if (labelColumn is null) return null;
        if (!int.TryParse(labelColumn, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int column))
            throw new ArgumentException($"{path}: a CoNLL tag column is a 0-based column index, not '{labelColumn}'");
        return column;
    }

    public override IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength)
    {
        if (data is not TokenDataset sentences)
            throw new ArgumentException($"{data.Source ?? "the data"}: token classification trains on tagged sentences (CoNLL columns or JSON Lines with \"tokens\" and \"tags\")");
        int overlap = stride ?? Math.Min(DefaultStride, (maxLength - 2) / 2);
        if (overlap < 0 || overlap >= maxLength - 2)
            throw new ArgumentException($"stride {overlap}: must be ≥ 0 and below the {maxLength - 2} pieces a window of {maxLength} tokens holds");
        int[] beginToInside = [.. Labels.Id2Label.Select((tag, id) =>
            tag.StartsWith("B-", StringComparison.Ordinal) && Labels.TryGetId("I-" + tag[2..], out int inside) ? inside : id)];
        var result = new List<EncodedExample>();
        for (int s = 0; s < sentences.Count; s++)
        {
            var sentence = sentences[s];
            var ids = new int[sentence.Tags.Count];
            for (int w = 0; w < ids.Length; w++)
                if (!Labels.TryGetId(sentence.Tags[w], out ids[w]))
                    throw new InvalidDataException($"{sentence.Location}: tag '{Shown.Text(sentence.Tags[w])}' of word {w + 1} ('{Shown.Text(sentence.Words[w])}') is not one the model knows ({Shown.List(Labels.Id2Label)})");
            foreach (var window in TokenAlignment.Align(tokenizer, sentence.Words, ids, maxLength, overlap, labelAllTokens, beginToInside))
            {
                var example = new EncodedExample(window.InputIds, new int[window.InputIds.Length], window.Labels, []);
                _origins.Add(example, new WindowOrigin(s, window.WordOfToken, window.FirstPiece));
                result.Add(example);
            }
        }
        _sources.Add(result, sentences);
        return result;
    }

    public override TaskBatch Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId)
    {
        var ids = new int[indices.Length][];
        var types = new int[indices.Length][];
        for (int b = 0; b < indices.Length; b++)
        {
            ids[b] = examples[indices[b]].InputIds;
            types[b] = examples[indices[b]].TokenTypeIds;
        }
        var input = DynamicPadding.Pad(ids, types, padId);
        int T = input.SequenceLength;
        var labels = new int[indices.Length * T];
        Array.Fill(labels, BertPreTrainedModel.IgnoreIndex);
        for (int b = 0; b < indices.Length; b++) examples[indices[b]].Labels.CopyTo(labels, b * T);
        return new TaskBatch { Input = input, Labels = labels };
    }

    public override (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId)
    {
        if (!_sources.TryGetValue(data, out var sentences))
            throw new InvalidOperationException("token-classification evaluation needs examples this task encoded");
        var predicted = sentences.Sentences.Select(s => Enumerable.Repeat("O", s.Words.Count).ToArray()).ToArray();
        // Per word: how far the chosen window's piece sits from the window's nearest edge (more context is better).
        var margin = sentences.Sentences.Select(s => Enumerable.Repeat(-1, s.Words.Count).ToArray()).ToArray();
        int k = Labels.Count;
        double lossSum = 0;
        long lossCount = 0;
        var order = ByLength(data);
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int count = Math.Min(batchSize, data.Count - start);
            var batch = Collate(data, order.AsSpan(start, count), padId);
            int T = batch.Input.SequenceLength;
            var logits = model.Run(batch.Input);
            int labelled = batch.Labels.Count(l => l != BertPreTrainedModel.IgnoreIndex);
            if (labelled > 0)
            {
                lossSum += CrossEntropy.Compute(logits, count * T, k, batch.Labels, [], default, 1f) * labelled;
                lossCount += labelled;
            }
            for (int r = 0; r < count; r++)
            {
                var example = data[order[start + r]];
                var origin = _origins.TryGetValue(example, out var o) ? o : throw new InvalidOperationException("an example this task did not encode");
                int n = example.InputIds.Length;
                for (int t = 0; t < n; t++)
                {
                    // A word's first piece speaks for it (a window opening mid-word holds only later pieces).
                    if (!origin.FirstPiece[t]) continue;
                    int word = origin.WordOfToken[t];
                    int edge = Math.Min(t, n - 1 - t);
                    if (edge <= margin[origin.Sentence][word]) continue;
                    margin[origin.Sentence][word] = edge;
                    int best = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan((r * T + t) * k, k));
                    predicted[origin.Sentence][word] = Labels[best];
                }
            }
        }
        var truth = sentences.Sentences.Select(s => s.Tags).ToArray();
        var report = EntityReport.Create(truth, predicted, mode);
        return (report, lossCount == 0 ? 0 : lossSum / lossCount);
    }
}
