namespace BertSharp.Model;

/// <summary>
/// One training batch for any head: the padded input and the head's targets, whose layout the head
/// defines (a class id per row, a tag per token, start/end positions; 0/1 per label, a value per row).
/// </summary>
internal sealed class TaskBatch
{
    /// <summary>The padded ids, type ids and attention mask.</summary>
    public required BertInput Input { get; init; }

    /// <summary>Integer targets; <see cref="BertPreTrainedModel.IgnoreIndex"/> marks a position the loss skips.</summary>
    public int[] Labels { get; init; } = [];

    /// <summary>Real-valued targets (multi-label 0/1 indicators, regression values).</summary>
    public float[] Targets { get; init; } = [];

    /// <summary>
    /// For a data-parallel rank's slice of a larger batch: the slice's share of each term of the head's loss in the
    /// whole (see <see cref="BertPreTrainedModel.LossDenominators"/>). The loss is then Σ share × term, this slice's
    /// part of the whole's loss, and so is its gradient. Null for a batch that is a whole.
    /// </summary>
    public double[]? LossShares { get; init; }
}
