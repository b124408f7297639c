using BertSharp.Tensors;

namespace BertSharp.IO;

/// <summary>
/// Named weights with Hugging Face's names (<c>bert.embeddings.word_embeddings.weight</c>, …): the
/// one currency between checkpoint readers/writers and the model, so loading code cannot drift
/// from the checkpoint's naming.
/// </summary>
public sealed class StateDict : Dictionary<string, Tensor>
{
    public StateDict() : base(StringComparer.Ordinal) { }

    /// <summary>Where these weights came from, for error messages.</summary>
    public string Source { get; init; } = "(memory)";

    /// <summary>Returns the tensor or throws an error that names the source and tensor.</summary>
    public Tensor Get(string name, params int[] expectedShape)
    {
        if (!TryGetValue(name, out var t))
            throw new InvalidDataException($"{Source}: tensor '{name}' is missing");
        if (expectedShape.Length > 0 && !t.Shape.AsSpan().SequenceEqual(expectedShape))
            throw new InvalidDataException(
                $"{Source}: tensor '{name}' has shape {t.ShapeText} but the config needs [{string.Join(", ", expectedShape)}]");
        return t;
    }
}
