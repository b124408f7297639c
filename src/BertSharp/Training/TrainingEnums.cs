using System.Text.Json.Serialization;

namespace BertSharp.Training;

/// <summary>When the trainer evaluates (Hugging Face's <c>IntervalStrategy</c>); JSON names are HF's: "no", "steps", "epoch".</summary>
[JsonConverter(typeof(JsonStringEnumConverter<IntervalStrategy>))]
public enum IntervalStrategy
{
    /// <summary>Never.</summary>
    [JsonStringEnumMemberName("no")] No,

    /// <summary>Every <see cref="TrainingArguments.EvalSteps"/> optimizer steps, and after the last.</summary>
    [JsonStringEnumMemberName("steps")] Steps,

    /// <summary>At the end of every epoch.</summary>
    [JsonStringEnumMemberName("epoch")] Epoch,
}

/// <summary>How the learning rate moves after warm-up (Hugging Face's <c>SchedulerType</c>); JSON names "linear", "constant".</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SchedulerType>))]
public enum SchedulerType
{
    /// <summary>Linear decay to 0 at the last step.</summary>
    [JsonStringEnumMemberName("linear")] Linear,

    /// <summary>The peak rate throughout.</summary>
    [JsonStringEnumMemberName("constant")] Constant,
}
