namespace BertSharp.Text;

/// <summary>How a text (or pair) longer than the maximum length is cut, as Hugging Face's <c>truncation=</c>.</summary>
public enum TruncationStrategy
{
    /// <summary>
    /// <c>longest_first</c>: take tokens from the longer sequence until both fit. With a pair, HF's Rust
    /// rule: if the shorter one fits beside the longer cut to the remainder, only the longer is cut;
    /// otherwise each gets half, and the originally longer one the odd token.
    /// </summary>
    LongestFirst,
    /// <summary><c>only_first</c>: cut the first sequence only; an error if that is not enough.</summary>
    OnlyFirst,
    /// <summary><c>only_second</c>: cut the pair only; an error if that is not enough or there is no pair.</summary>
    OnlySecond,
    /// <summary>Never cut (the sequence may exceed what the model accepts).</summary>
    DoNotTruncate,
}
