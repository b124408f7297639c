namespace BertSharp.Training;

/// <summary>
/// Draws a finished run's charts beside its model: <see cref="LossFile"/> (training and evaluation loss by step) and
/// <see cref="MetricsFile"/> (evaluation metrics by step). The <c>BertSharp.Plots</c> package implements it and the
/// trainer finds that implementation by name when the application references the package; without it a run writes
/// no charts (train_log.jsonl holds the same numbers), and the core carries no plotting library.
/// </summary>
public interface ITrainingPlots
{
    /// <summary>The loss chart's file name.</summary>
    const string LossFile = "loss.png";

    /// <summary>The evaluation metrics chart's file name.</summary>
    const string MetricsFile = "eval_metrics.png";

    /// <summary>Writes the charts of <paramref name="history"/> into <paramref name="directory"/>, each atomically.</summary>
    /// <param name="directory">The run's output directory.</param>
    /// <param name="history">The run's train_log.jsonl lines.</param>
    void Write(string directory, IReadOnlyList<TrainingLogEntry> history);
}
