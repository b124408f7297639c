namespace BertSharp.Training;

/// <summary>
/// An evaluation during or after training threw; the message names the step and the checkpoint that holds what was
/// trained up to it, which <c>--resume</c> continues from.
/// </summary>
public sealed class EvaluationFailedException : Exception
{
    /// <summary>Creates the exception with its message.</summary>
    public EvaluationFailedException(string message) : base(message) { }

    /// <summary>Creates the exception with no message.</summary>
    public EvaluationFailedException() { }

    /// <summary>Creates the exception with its message and cause.</summary>
    public EvaluationFailedException(string message, Exception inner) : base(message, inner) { }
}
