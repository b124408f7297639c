namespace BertSharp.Training;

/// <summary>Training stopped because the loss or the gradients became NaN or infinite; the message names the step.</summary>
public sealed class TrainingDivergedException : Exception
{
    /// <summary>Creates the exception with its message.</summary>
    public TrainingDivergedException(string message) : base(message) { }

    /// <summary>Creates the exception with no message.</summary>
    public TrainingDivergedException() { }

    /// <summary>Creates the exception with its message and cause.</summary>
    public TrainingDivergedException(string message, Exception inner) : base(message, inner) { }
}
