using System.Text.Json.Serialization;

namespace BertSharp.Training;

/// <summary>One line of <c>train_log.jsonl</c>: a training step summary or an evaluation.</summary>
public sealed record TrainingLogEntry
{
    /// <summary>"train" or "eval".</summary>
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    /// <summary>The optimizer step the line was logged at.</summary>
    [JsonPropertyName("step")] public int Step { get; init; }

    /// <summary>Fractional epoch, as Hugging Face logs it.</summary>
    [JsonPropertyName("epoch")] public double Epoch { get; init; }

    /// <summary>The mean training loss since the previous line.</summary>
    [JsonPropertyName("loss"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Loss { get; init; }
    /// <summary>Peak AdamW learning rate.</summary>
    [JsonPropertyName("learning_rate"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? LearningRate { get; init; }
    /// <summary>The global gradient norm before clipping.</summary>
    [JsonPropertyName("grad_norm"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? GradNorm { get; init; }
    /// <summary>Training throughput so far.</summary>
    [JsonPropertyName("samples_per_second"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SamplesPerSecond { get; init; }

    /// <summary>
    /// In a data-parallel run, the share of wall time since the previous line that went to averaging gradients over the
    /// ranks (absent in one process).
    /// </summary>
    [JsonPropertyName("allreduce_share"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? AllreduceShare { get; init; }

    /// <summary>Evaluation metrics by name (eval_accuracy, eval_f1, eval_loss, …).</summary>
    [JsonPropertyName("metrics"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyDictionary<string, double>? Metrics { get; init; }
}
