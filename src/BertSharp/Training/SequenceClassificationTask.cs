using System.Globalization;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// Training for <see cref="BertForSequenceClassification"/> in each of its problem types: a label name per text
/// (single-label), several names in one column (multi-label: a JSON list or names joined by a separator), or a
/// number (regression). Reports: scikit-learn's classification report, <see cref="MultiLabelReport"/>, or
/// <see cref="RegressionReport"/>.
/// </summary>
internal sealed class SequenceClassificationTask(ProblemType problemType, LabelMap labels, string separator = MultiLabels.DefaultSeparator) : TaskAdapter
{
    /// <summary>The decision threshold on each label's sigmoid in multi-label evaluation (scikit-learn's and HF's 0.5).</summary>
    public const float Threshold = 0.5f;

    public ProblemType ProblemType { get; } = problemType;

    public LabelMap Labels { get; } = labels;

    public override IReadOnlyList<string> MetricNames => ProblemType switch
    {
        ProblemType.SingleLabelClassification => ["accuracy", "f1", "f1_weighted", "precision", "recall", "roc_auc"],
        ProblemType.MultiLabelClassification => ["micro_f1", "macro_f1", "micro_precision", "micro_recall", "subset_accuracy", "hamming_loss"],
        _ => ["mse", "mae", "pearson", "spearman"],
    };

    public override string DefaultMetric => ProblemType switch
    {
        ProblemType.SingleLabelClassification => "accuracy",
        ProblemType.MultiLabelClassification => "micro_f1",
        _ => "mse",
    };

    public override IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength)
    {
        if (data is not TextDataset texts)
            throw new ArgumentException($"{data.Source ?? "the data"}: sequence classification trains on labelled texts (a TextDataset)");
        var strings = new string[texts.Count];
        var pairs = texts.TextPairColumn is null ? null : new string?[texts.Count];
        var targets = new EncodedExample[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            var e = texts[i];
            strings[i] = e.Text;
            if (pairs is not null) pairs[i] = e.TextPair;
        }
        var encodings = tokenizer.EncodeBatch(strings, pairs, new EncodeOptions { MaxLength = maxLength }, PaddingStrategy.DoNotPad);
        for (int i = 0; i < encodings.Length; i++)
        {
            var (labelIds, values) = Targets(texts[i]);
            targets[i] = new EncodedExample(encodings[i].Ids, encodings[i].TypeIds, labelIds, values);
        }
        return targets;
    }

    public override void Prepare(BertPreTrainedModel model, IReadOnlyList<EncodedExample> train, TrainingArguments args)
    {
        var classifier = (BertForSequenceClassification)model;
        classifier.StartAtMean([.. train.SelectMany(e => e.Targets)]);
        if (args.ClassWeights is null) return;
        if (ProblemType != ProblemType.SingleLabelClassification)
            throw new ArgumentException($"class_weights apply to single-label classification, not {ProblemType}");
        var ids = train.Select(e => e.Label).ToArray();
        classifier.ClassWeights = args.ClassWeights.Equals("balanced", StringComparison.OrdinalIgnoreCase)
            ? ClassWeights.Balanced(ids, Labels)
            : ClassWeights.Parse(args.ClassWeights, Labels, ids);
    }

    public override (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId)
    {
        int n = data.Count, k = ProblemType == ProblemType.Regression ? 1 : Labels.Count;
        var order = ByLength(data);
        var logits = new float[n * k];
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            var batch = Collate(data, order.AsSpan(start, count), padId);
            var rows = model.Run(batch.Input);
            for (int r = 0; r < count; r++) rows.AsSpan(r * k, k).CopyTo(logits.AsSpan(order[start + r] * k, k));
        }
        int[] labels = [.. data.SelectMany(e => e.Labels)];
        float[] targets = [.. data.SelectMany(e => e.Targets)];
        // The unweighted loss of the objective trained, so runs with and without class weights compare.
        double loss = ProblemType switch
        {
            ProblemType.SingleLabelClassification => CrossEntropy.Compute(logits, n, k, labels, [], default, 1f),
            ProblemType.MultiLabelClassification => BceWithLogits.Compute(logits, targets, default, 1f),
            _ => MeanSquaredError.Compute(logits, targets, default, 1f),
        };
        Scores(ProblemType, logits, n, k);
        return (Report(logits, labels, targets, n, k), loss);
    }

    /// <summary>The problem type's output function, in place on logits [rows × k]: softmax, sigmoid, or none (regression).</summary>
    public static void Scores(ProblemType problemType, Span<float> logits, int rows, int k)
    {
        if (problemType == ProblemType.SingleLabelClassification)
            for (int r = 0; r < rows; r++) System.Numerics.Tensors.TensorPrimitives.SoftMax(logits.Slice(r * k, k), logits.Slice(r * k, k));
        else if (problemType == ProblemType.MultiLabelClassification)
            System.Numerics.Tensors.TensorPrimitives.Sigmoid(logits[..(rows * k)], logits[..(rows * k)]);
    }

    private IEvaluationReport Report(float[] scores, int[] labels, float[] targets, int n, int k)
    {
        switch (ProblemType)
        {
            case ProblemType.SingleLabelClassification:
                var predictions = new int[n];
                for (int i = 0; i < n; i++) predictions[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(scores.AsSpan(i * k, k));
                double[] positive = k == 2 ? [.. Enumerable.Range(0, n).Select(i => (double)scores[i * k + 1])] : [];
                return ClassificationReport.Create(labels, predictions, Labels.Id2Label, positive);
            case ProblemType.MultiLabelClassification:
                var truth = new int[n * k];
                var predicted = new int[n * k];
                for (int i = 0; i < n * k; i++)
                {
                    truth[i] = targets[i] >= 0.5f ? 1 : 0;
                    predicted[i] = scores[i] >= Threshold ? 1 : 0;
                }
                return MultiLabelReport.Create(truth, predicted, Labels.Id2Label);
            default:
                return RegressionReport.Create([.. targets.Select(v => (double)v)], [.. scores.Take(n * k).Select(v => (double)v)]);
        }
    }

    private (int[] Labels, float[] Targets) Targets(LabeledExample e)
    {
        switch (ProblemType)
        {
            case ProblemType.SingleLabelClassification:
                if (!Labels.TryGetId(e.Label, out int id))
                    throw new InvalidDataException($"{e.Location}: label '{Shown.Text(e.Label)}' is not one the model knows ({Shown.List(Labels.Id2Label)})");
                return ([id], []);
            case ProblemType.MultiLabelClassification:
                var indicators = new float[Labels.Count];
                foreach (var name in MultiLabels.Parse(e.Label, separator))
                {
                    if (!Labels.TryGetId(name, out int label))
                        throw new InvalidDataException($"{e.Location}: label '{Shown.Text(name)}' is not one the model knows ({Shown.List(Labels.Id2Label)})");
                    indicators[label] = 1f;
                }
                return ([], indicators);
            default:
                if (!float.TryParse(e.Label, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !float.IsFinite(value))
                    throw new InvalidDataException($"{e.Location}: label '{e.Label}' is not a number; regression needs numeric labels");
                return ([], [value]);
        }
    }
}
