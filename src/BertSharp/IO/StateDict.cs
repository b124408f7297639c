using BertSharp.Tensors;

namespace BertSharp.IO;

/// <summary>
/// Named weights with Hugging Face's names (<c>bert.embeddings.word_embeddings.weight</c>, …): the
/// one currency between checkpoint readers/writers and the model, so loading code cannot drift
/// from the checkpoint's naming.
/// </summary>
public sealed class StateDict : Dictionary<string, FloatTensor>
{
    /// <summary>An empty state dict.</summary>
    public StateDict() : base(StringComparer.Ordinal) { }

    /// <summary>The module path of the encoder inside Hugging Face's task models (<c>base_model_prefix</c>).</summary>
    public const string EncoderPrefix = "bert.";

    /// <summary>
    /// The same tensors under the names a task model's checkpoint uses, decided once for the whole dict: a
    /// bare encoder's keys (Hugging Face's <c>BertModel</c> saves <c>embeddings.…</c>) move under
    /// <see cref="EncoderPrefix"/>, and TF-era LayerNorm names (<c>gamma</c>/<c>beta</c>) become
    /// <c>weight</c>/<c>bias</c>. Tensors are shared, not copied.
    /// </summary>
    public StateDict WithCheckpointNames()
    {
        bool bare = !Keys.Any(k => k.StartsWith(EncoderPrefix, StringComparison.Ordinal));
        var result = new StateDict { Source = Source };
        foreach (var (key, tensor) in this)
        {
            var name = key;
            if (name.EndsWith(".gamma", StringComparison.Ordinal)) name = name[..^".gamma".Length] + ".weight";
            else if (name.EndsWith(".beta", StringComparison.Ordinal)) name = name[..^".beta".Length] + ".bias";
            if (bare && IsEncoderName(name)) name = EncoderPrefix + name;
            result[name] = tensor;
        }
        return result;
    }

    private static bool IsEncoderName(string name) =>
        name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal)
        || name.StartsWith("pooler.", StringComparison.Ordinal);

    /// <summary>Where these weights came from, for error messages.</summary>
    public string Source { get; init; } = "(memory)";

    /// <summary>Returns the tensor or throws an error that names the source and tensor.</summary>
    public FloatTensor Get(string name, params int[] expectedShape)
    {
        if (!TryGetValue(name, out var t))
            throw new InvalidDataException($"{Source}: tensor '{name}' is missing");
        if (expectedShape.Length > 0 && !t.Shape.AsSpan().SequenceEqual(expectedShape))
            throw new InvalidDataException(
                $"{Source}: tensor '{name}' has shape {t.ShapeText} but the config needs [{string.Join(", ", expectedShape)}]");
        return t;
    }
}
