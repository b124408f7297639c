namespace BertSharp.Text;

/// <summary>
/// How a <see cref="BertTokenizer"/> normalises text, with Hugging Face's names and defaults
/// (<c>do_lower_case</c>, <c>strip_accents</c>, <c>tokenize_chinese_chars</c>, <c>model_max_length</c>).
/// </summary>
public sealed record BertTokenizerOptions
{
    /// <summary>Lower-case the text (uncased models). Default true.</summary>
    public bool DoLowerCase { get; init; } = true;

    /// <summary>Decompose (NFD) and drop non-spacing marks. Null follows <see cref="DoLowerCase"/>, as in HF.</summary>
    public bool? StripAccents { get; init; }

    /// <summary>Make every CJK ideograph a word of its own. Default true.</summary>
    public bool TokenizeChineseChars { get; init; } = true;

    /// <summary>Remove control characters and map every whitespace to a space. Default true.</summary>
    public bool CleanText { get; init; } = true;

    /// <summary>The model's maximum sequence length, special tokens included: the default truncation length. Default 512.</summary>
    public int MaxLength { get; init; } = 512;

    /// <summary>Words longer than this many code points become the unknown token. Default 100.</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    internal bool EffectiveStripAccents => StripAccents ?? DoLowerCase;
}
