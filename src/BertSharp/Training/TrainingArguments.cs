using System.Text.Json.Serialization;

namespace BertSharp.Training;

/// <summary>
/// Fine-tuning settings. Defaults are the spec's recipe (AdamW, lr 2e-5, weight decay 0.01, batch 8,
/// 3 epochs, evaluation every epoch); JSON names follow Hugging Face's TrainingArguments so that
/// <c>training_args.json</c> reads the same to a Python user.
/// </summary>
public sealed record TrainingArguments
{
    /// <summary>Peak AdamW learning rate.</summary>
    [JsonPropertyName("learning_rate")] public float LearningRate { get; init; } = 2e-5f;
    /// <summary>AdamW's decoupled weight decay, not applied to biases and LayerNorm weights.</summary>
    [JsonPropertyName("weight_decay")] public float WeightDecay { get; init; } = 0.01f;
    /// <summary>AdamW's first-moment decay.</summary>
    [JsonPropertyName("adam_beta1")] public float AdamBeta1 { get; init; } = 0.9f;
    /// <summary>AdamW's second-moment decay.</summary>
    [JsonPropertyName("adam_beta2")] public float AdamBeta2 { get; init; } = 0.999f;
    /// <summary>AdamW's denominator epsilon.</summary>
    [JsonPropertyName("adam_epsilon")] public float AdamEpsilon { get; init; } = 1e-8f;
    /// <summary>Clip the gradients to this global norm (0 turns clipping off).</summary>
    [JsonPropertyName("max_grad_norm")] public float MaxGradNorm { get; init; } = 1.0f;
    /// <summary>Passes over the training data.</summary>
    [JsonPropertyName("num_train_epochs")] public int NumTrainEpochs { get; init; } = 3;
    /// <summary>Examples per training batch.</summary>
    [JsonPropertyName("per_device_train_batch_size")] public int TrainBatchSize { get; init; } = 8;
    /// <summary>Examples per evaluation batch.</summary>
    [JsonPropertyName("per_device_eval_batch_size")] public int EvalBatchSize { get; init; } = 32;
    /// <summary>Batches whose gradients are summed before each optimizer step.</summary>
    [JsonPropertyName("gradient_accumulation_steps")] public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>Share of the steps over which the learning rate rises from 0 to its peak.</summary>
    [JsonPropertyName("warmup_ratio")] public float WarmupRatio { get; init; }
    /// <summary>Linear decay to 0, or constant; written "linear" or "constant" as Hugging Face does.</summary>
    [JsonPropertyName("lr_scheduler_type")] public SchedulerType LrSchedulerType { get; init; } = SchedulerType.Linear;
    /// <summary>Seeds shuffles, splits, dropout and the initial head weights.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 42;
    /// <summary>Tokens per example, [CLS] and [SEP] included.</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; } = 128;
    /// <summary>Dropout on embeddings and layer outputs in training.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public float? Dropout { get; init; }

    /// <summary>Every epoch, every <see cref="EvalSteps"/> optimizer steps, or never; written "epoch", "steps" or "no" as Hugging Face does.</summary>
    [JsonPropertyName("eval_strategy")] public IntervalStrategy EvalStrategy { get; init; } = IntervalStrategy.Epoch;
    /// <summary>With eval_strategy "steps": evaluate every this many optimizer steps.</summary>
    [JsonPropertyName("eval_steps")] public int EvalSteps { get; init; } = 500;
    /// <summary>The metric that picks the best checkpoint (e.g. accuracy, micro_f1, mse, loss); null takes the task's default.</summary>
    [JsonPropertyName("metric_for_best_model")] public string? MetricForBestModel { get; init; }
    /// <summary>Stop after this many evaluations without improvement; null never stops early.</summary>
    [JsonPropertyName("early_stopping_patience")] public int? EarlyStoppingPatience { get; init; }
    /// <summary>Also checkpoint every N optimizer steps (besides every evaluation and epoch end).</summary>
    [JsonPropertyName("save_steps")] public int? SaveSteps { get; init; }
    /// <summary>Log the mean training loss every this many optimizer steps.</summary>
    [JsonPropertyName("logging_steps")] public int LoggingSteps { get; init; } = 10;

    /// <summary>"balanced", a comma-separated list of weights in label-id order, or null for none.</summary>
    [JsonPropertyName("class_weights")] public string? ClassWeights { get; init; }

    /// <summary>Replace a model or checkpoints already in the output directory instead of refusing.</summary>
    [JsonPropertyName("overwrite_output_dir")] public bool OverwriteOutputDir { get; init; }

    /// <summary>Order each epoch's batches by length within shuffled pools, so padding costs little.</summary>
    [JsonPropertyName("group_by_length")] public bool GroupByLength { get; init; }

    /// <summary>
    /// Run the matrix products in bf16 on oneDNN (<see cref="Tensors.ComputeProvider.OneDnnBf16"/>, PyTorch's bf16
    /// autocast): fp32 master weights and optimizer, bf16 operands. The trainer refuses it where oneDNN is absent.
    /// </summary>
    [JsonPropertyName("bf16")] public bool Bf16 { get; init; }

    /// <summary>Throws an ArgumentException naming the first setting that cannot work.</summary>
    public void Validate()
    {
        Check(LearningRate > 0 && float.IsFinite(LearningRate), "learning_rate", LearningRate, "must be a positive number");
        Check(WeightDecay >= 0, "weight_decay", WeightDecay, "must be ≥ 0");
        Check(AdamBeta1 is >= 0 and < 1, "adam_beta1", AdamBeta1, "must be in [0, 1)");
        Check(AdamBeta2 is >= 0 and < 1, "adam_beta2", AdamBeta2, "must be in [0, 1)");
        Check(AdamEpsilon > 0, "adam_epsilon", AdamEpsilon, "must be > 0");
        Check(MaxGradNorm >= 0, "max_grad_norm", MaxGradNorm, "must be ≥ 0 (0 turns clipping off)");
        Check(NumTrainEpochs > 0, "num_train_epochs", NumTrainEpochs, "must be ≥ 1");
        Check(TrainBatchSize > 0, "batch size", TrainBatchSize, "must be ≥ 1");
        Check(EvalBatchSize > 0, "eval batch size", EvalBatchSize, "must be ≥ 1");
        Check(GradientAccumulationSteps > 0, "gradient_accumulation_steps", GradientAccumulationSteps, "must be ≥ 1");
        Check(WarmupRatio is >= 0 and <= 1, "warmup_ratio", WarmupRatio, "must be in [0, 1]");
        Check(Enum.IsDefined(LrSchedulerType), "lr_scheduler_type", LrSchedulerType, "must be linear or constant");
        Check(MaxLength is >= 3 and <= 512, "max_length", MaxLength, "must be in [3, 512]");
        Check(Dropout is null or (>= 0 and < 1), "dropout", Dropout ?? 0, "must be in [0, 1)");
        Check(Enum.IsDefined(EvalStrategy), "eval_strategy", EvalStrategy, "must be epoch, steps or no");
        Check(EvalSteps > 0, "eval_steps", EvalSteps, "must be ≥ 1");
        Check(EarlyStoppingPatience is null or > 0, "early_stopping_patience", EarlyStoppingPatience ?? 0, "must be ≥ 1");
        Check(SaveSteps is null or > 0, "save_steps", SaveSteps ?? 0, "must be ≥ 1");
        Check(LoggingSteps > 0, "logging_steps", LoggingSteps, "must be ≥ 1");
    }

    private static void Check(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new ArgumentException($"{name} = {value}: {rule}");
    }
}
