using BertSharp.Evaluation;

namespace BertSharp.Training;

/// <summary>What a training run produced.</summary>
public sealed record TrainResult
{
    /// <summary>True when the run stopped on request (Ctrl-C) after saving a checkpoint to resume from.</summary>
    public bool Interrupted { get; init; }
    /// <summary>Optimizer steps taken.</summary>
    public int GlobalStep { get; init; }
    /// <summary>Where the model, logs and plots were written.</summary>
    public string OutputDirectory { get; init; } = "";
    /// <summary>
    /// Where this run's checkpoints are: <see cref="OutputDirectory"/>, or the folder beside it while an interrupted
    /// run that replaces a model has not finished (<c>--resume</c> finds it either way).
    /// </summary>
    public string CheckpointDirectory { get; init; } = "";
    /// <summary>The checkpoint with the best evaluation metric, when there was evaluation.</summary>
    public string? BestCheckpoint { get; init; }

    /// <summary>The report of the kept model on the evaluation data, when there was any.</summary>
    public IEvaluationReport? EvalReport { get; init; }
    /// <summary>Seconds spent training (resumed runs included).</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Training examples per second over the run.</summary>
    public double SamplesPerSecond { get; init; }
    /// <summary>The process's peak working set.</summary>
    public long PeakMemoryBytes { get; init; }
    /// <summary>Every line of train_log.jsonl.</summary>
    public IReadOnlyList<TrainingLogEntry> History { get; init; } = [];
}
