namespace BertSharp.Training;

/// <summary>
/// Hugging Face's linear schedule: rises from 0 to the peak over the warmup steps, then falls linearly
/// to 0 at the last step. The learning rate used for update number <c>step</c> (0-based) is
/// <see cref="At"/>(step), as PyTorch's LambdaLR gives it before scheduler.step().
/// </summary>
internal sealed record LearningRateSchedule(float PeakLearningRate, int TotalSteps, int WarmupSteps)
{
    public static LearningRateSchedule Linear(float peak, int totalSteps, float warmupRatio) =>
        new(peak, totalSteps, (int)Math.Ceiling(totalSteps * warmupRatio));

    public float At(int step)
    {
        if (step < WarmupSteps) return PeakLearningRate * step / Math.Max(1, WarmupSteps);
        return PeakLearningRate * Math.Max(0f, (float)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
    }
}
