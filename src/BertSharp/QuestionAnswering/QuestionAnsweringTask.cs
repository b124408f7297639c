using System.Collections;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.QuestionAnswering;

/// <summary>
/// Training and evaluation for <see cref="BertForQuestionAnswering"/>: SQuAD JSON or JSON Lines in, one encoded
/// example per window with its start and end positions as labels, and the SQuAD metrics (exact match, F1) after
/// run_qa.py's post-processing.
/// </summary>
internal sealed class QuestionAnsweringTask(QaOptions options) : TaskAdapter
{
    public QaOptions Options { get; } = options;

    public override IReadOnlyList<string> MetricNames => ["exact_match", "f1"];

    public override string DefaultMetric => "f1";

    public override ITaskDataset Load(string path, DatasetLoadOptions options) => SquadDataset.Load(path);

    public override IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength)
    {
        if (data is not SquadDataset squad)
            throw new ArgumentException($"{data.Source ?? "the data"}: question answering trains on questions with contexts (SQuAD JSON or JSON Lines)");
        var options = Options with { MaxLength = maxLength };
        return new QaFeatureSet(squad.Examples, QaFeatures.Build(tokenizer, squad.Examples, options), options);
    }

    public override (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId)
    {
        if (data is not QaFeatureSet set) throw new ArgumentException("question answering evaluates the windows its own Encode built");
        var (logits, loss) = Run(model, set.Features, batchSize, padId);
        var answers = QaFeatures.PostProcess(set.Examples, set.Features, logits, set.Options);
        var predictions = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < answers.Length; i++) predictions[set.Examples[i].Id] = answers[i][0].Answer;
        return (SquadMetric.Evaluate(set.Examples, predictions), loss);
    }

    /// <summary>
    /// Each window's [tokens × 2] logits, batched by length, and the mean span loss over the windows (the loss
    /// trained: HF's mean of start and end cross-entropy).
    /// </summary>
    internal static (float[][] Logits, double Loss) Run(IModelRuntime model, IReadOnlyList<QaFeature> features, int batchSize, int padId)
    {
        var order = Enumerable.Range(0, features.Count).OrderBy(i => features[i].InputIds.Length).ToArray();
        var logits = new float[features.Count][];
        double lossSum = 0;
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var rows = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            var input = DynamicPadding.Pad([.. rows.Select(r => features[r].InputIds)], [.. rows.Select(r => features[r].TypeIds)], padId);
            var output = model.Run(input);
            int T = input.SequenceLength;
            for (int r = 0; r < rows.Length; r++) logits[rows[r]] = output.AsSpan(r * T * 2, features[rows[r]].InputIds.Length * 2).ToArray();
            int[] positions = [.. rows.SelectMany(r => new[] { features[r].StartPosition, features[r].EndPosition })];
            lossSum += BertForQuestionAnswering.SpanLoss(output, rows.Length, T, positions, default, 1f) * rows.Length;
        }
        return (logits, features.Count == 0 ? 0 : lossSum / features.Count);
    }
}

/// <summary>The encoded windows of a SQuAD data set, with the examples and options that post-processing needs.</summary>
internal sealed class QaFeatureSet : IReadOnlyList<EncodedExample>
{
    private readonly EncodedExample[] _encoded;

    public QaFeatureSet(IReadOnlyList<SquadExample> examples, IReadOnlyList<QaFeature> features, QaOptions options)
    {
        Examples = examples;
        Features = features;
        Options = options;
        _encoded = [.. features.Select(f => new EncodedExample(f.InputIds, f.TypeIds, [f.StartPosition, f.EndPosition], []))];
    }

    public IReadOnlyList<SquadExample> Examples { get; }

    public IReadOnlyList<QaFeature> Features { get; }

    public QaOptions Options { get; }

    public int Count => _encoded.Length;

    public EncodedExample this[int index] => _encoded[index];

    public IEnumerator<EncodedExample> GetEnumerator() => ((IEnumerable<EncodedExample>)_encoded).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
