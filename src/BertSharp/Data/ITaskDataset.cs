namespace BertSharp.Data;

/// <summary>A data set a <see cref="Training.Trainer"/> can train on; each task reads its own kind (labelled texts, tagged tokens, questions).</summary>
public interface ITaskDataset
{
    /// <summary>The number of examples.</summary>
    int Count { get; }

    /// <summary>Where the examples came from, for messages; null when built in memory.</summary>
    string? Source { get; }
}
