namespace BertSharp.Text;

/// <summary>Options of one encode call, with Hugging Face's meanings.</summary>
public sealed record EncodeOptions
{
    /// <summary>The default: special tokens, <c>longest_first</c> truncation to the tokenizer's maximum length.</summary>
    public static EncodeOptions Default { get; } = new();

    /// <summary>Add <c>[CLS]</c> and <c>[SEP]</c> (<c>add_special_tokens</c>). Default true.</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>
    /// Truncation strategy. Default <see cref="TruncationStrategy.LongestFirst"/> — unlike HF, whose
    /// default is not to truncate, because BERT cannot take more than its maximum length anyway.
    /// </summary>
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.LongestFirst;

    /// <summary>Maximum length with special tokens (<c>max_length</c>); null uses <see cref="BertTokenizerOptions.MaxLength"/>.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Tokens shared by consecutive overflow windows (<c>stride</c>). Default 0.</summary>
    public int Stride { get; init; }

    /// <summary>Keep what truncation cut off as <see cref="TokenEncoding.Overflowing"/> windows (<c>return_overflowing_tokens</c>).</summary>
    public bool ReturnOverflowing { get; init; }
}
