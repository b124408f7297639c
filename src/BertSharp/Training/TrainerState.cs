using System.Text.Json.Serialization;

namespace BertSharp.Training;

/// <summary>
/// Where a training run stands, saved in every checkpoint as <c>trainer_state.json</c> (HF's file
/// name): enough to resume with the same step, learning rate, optimizer state, data order and dropout.
/// </summary>
internal sealed record TrainerState
{
    [JsonPropertyName("global_step")] public int GlobalStep { get; set; }
    [JsonPropertyName("epoch")] public int Epoch { get; set; }

    /// <summary>Index of the next batch within <see cref="Epoch"/>'s order.</summary>
    [JsonPropertyName("batch_in_epoch")] public int BatchInEpoch { get; set; }
    [JsonPropertyName("max_steps")] public int MaxSteps { get; set; }
    [JsonPropertyName("optimizer_step_count")] public int OptimizerStepCount { get; set; }
    [JsonPropertyName("dropout_position")] public long DropoutPosition { get; set; }
    [JsonPropertyName("best_metric")] public double? BestMetric { get; set; }
    [JsonPropertyName("best_model_checkpoint")] public string? BestModelCheckpoint { get; set; }
    [JsonPropertyName("evaluations_without_improvement")] public int EvaluationsWithoutImprovement { get; set; }
    [JsonPropertyName("train_seconds")] public double TrainSeconds { get; set; }
    [JsonPropertyName("samples_seen")] public long SamplesSeen { get; set; }

    /// <summary>The evaluation due at this checkpoint threw; a resumed run does it before training on.</summary>
    [JsonPropertyName("evaluation_pending")] public bool EvaluationPending { get; set; }
    [JsonPropertyName("log_history")] public List<TrainingLogEntry> LogHistory { get; set; } = [];
}
