using BertSharp.Evaluation;

namespace BertSharp.Training;

/// <summary>What a training run produced.</summary>
public sealed record TrainResult
{
    /// <summary>True when the run stopped on request (Ctrl-C) after saving a checkpoint to resume from.</summary>
    public bool Interrupted { get; init; }
    public int GlobalStep { get; init; }
    public string OutputDirectory { get; init; } = "";
    public string? BestCheckpoint { get; init; }

    /// <summary>The report of the kept model on the evaluation data, when there was any.</summary>
    public IEvaluationReport? EvalReport { get; init; }
    public double TrainSeconds { get; init; }
    public double SamplesPerSecond { get; init; }
    public long PeakMemoryBytes { get; init; }
    public IReadOnlyList<TrainingLogEntry> History { get; init; } = [];
}
