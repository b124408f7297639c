namespace BertSharp.Training;

/// <summary>A snapshot for progress displays, raised after every optimizer step.</summary>
public sealed record TrainingProgress(
    int Step, int MaxSteps, double Epoch, int NumEpochs, double Loss, double LearningRate, double SamplesPerSecond, TimeSpan Eta);
