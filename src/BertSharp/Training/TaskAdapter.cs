using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// The task-specific half of training: how a task's data become encoded examples and batches, how a model is
/// scored on them, and which metric picks the best checkpoint. The <see cref="Trainer"/> loop knows no task.
/// </summary>
internal abstract class TaskAdapter
{
    /// <summary>The metrics an evaluation reports (without <c>eval_</c>), any of which may pick the best model, besides <c>loss</c>.</summary>
    public abstract IReadOnlyList<string> MetricNames { get; }

    /// <summary>The metric that picks the best checkpoint when the arguments name none.</summary>
    public abstract string DefaultMetric { get; }

    /// <summary>Whether a smaller value of the metric is better (losses and errors).</summary>
    public virtual bool LowerIsBetter(string metric) => metric is "loss" or "mse" or "mae" or "hamming_loss";

    /// <summary>Reads a data file of this task's kind (labelled texts by default); errors name the file and line.</summary>
    public virtual ITaskDataset Load(string path, DatasetLoadOptions options) => TextDataset.Load(path, options);

    /// <summary>Tokenizes a data set and attaches the targets; errors name the example's file and line.</summary>
    public abstract IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength);

    /// <summary>Called once before training with the encoded training set (e.g. to compute class weights).</summary>
    public virtual void Prepare(BertPreTrainedModel model, IReadOnlyList<EncodedExample> train, TrainingArguments args)
    {
    }

    /// <summary>
    /// Rows <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 of a collated batch as a
    /// batch of their own, padded and masked exactly as in the whole: a data-parallel rank's share of the micro-batch one
    /// process would run. Labels and targets split into equal blocks per row; a task whose layout differs overrides this.
    /// </summary>
    public virtual TaskBatch Rows(TaskBatch batch, int start, int count) => Slice(batch, start, count, batch.Labels.Length, batch.Targets.Length);

    /// <summary>Rows of <paramref name="batch"/>, taking the first <paramref name="labels"/> labels and <paramref name="targets"/> targets as equal blocks per row.</summary>
    private protected static TaskBatch Slice(TaskBatch batch, int start, int count, int labels, int targets)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var input = batch.Input;
        int B = input.BatchSize;
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start + count, B, nameof(count));
        if (labels % B != 0 || targets % B != 0)
            throw new ArgumentException($"{labels} labels and {targets} targets do not split into {B} rows");
        int l = labels / B, t = targets / B;
        return new TaskBatch
        {
            Input = input.Rows(start, count),
            Labels = batch.Labels[(start * l)..((start + count) * l)],
            Targets = batch.Targets[(start * t)..((start + count) * t)],
        };
    }

    /// <summary>The examples at <paramref name="indices"/> as one padded batch with their targets.</summary>
    public virtual TaskBatch Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId)
    {
        var ids = new int[indices.Length][];
        var types = new int[indices.Length][];
        var labels = new List<int>();
        var targets = new List<float>();
        for (int b = 0; b < indices.Length; b++)
        {
            var e = examples[indices[b]];
            ids[b] = e.InputIds;
            types[b] = e.TokenTypeIds;
            labels.AddRange(e.Labels);
            targets.AddRange(e.Targets);
        }
        return new TaskBatch { Input = DynamicPadding.Pad(ids, types, padId), Labels = [.. labels], Targets = [.. targets] };
    }

    /// <summary>Scores a model (evaluation mode, on either runtime) on encoded examples: the task's report and the mean loss.</summary>
    public abstract (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId);

    /// <summary>The indices of <paramref name="data"/> ordered by length, so evaluation batches pad little.</summary>
    protected static int[] ByLength(IReadOnlyList<EncodedExample> data) =>
        [.. Enumerable.Range(0, data.Count).OrderBy(i => data[i].InputIds.Length)];
}
