using System.Text.Json.Serialization;

namespace BertSharp.Training;

/// <summary>One line of <c>train_log.jsonl</c>: a training step summary or an evaluation.</summary>
public sealed record TrainingLogEntry
{
    /// <summary>"train" or "eval".</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    [JsonPropertyName("step")] public int Step { get; init; }

    /// <summary>Fractional epoch, as Hugging Face logs it.</summary>
    [JsonPropertyName("epoch")] public double Epoch { get; init; }

    [JsonPropertyName("loss"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Loss { get; init; }
    [JsonPropertyName("learning_rate"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? LearningRate { get; init; }
    [JsonPropertyName("grad_norm"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? GradNorm { get; init; }
    [JsonPropertyName("samples_per_second"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SamplesPerSecond { get; init; }

    /// <summary>Evaluation metrics by name (eval_accuracy, eval_f1, eval_loss, …).</summary>
    [JsonPropertyName("metrics"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyDictionary<string, double>? Metrics { get; init; }
}
