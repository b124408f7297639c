namespace BertSharp.Text;

/// <summary>How a batch is padded (with the <c>[PAD]</c> id, type id 0, attention mask 0), on the right.</summary>
public enum PaddingStrategy
{
    /// <summary>To the longest sequence of the batch (<c>padding=True</c> / <c>"longest"</c>).</summary>
    Longest,
    /// <summary>To the maximum length (<c>padding="max_length"</c>).</summary>
    MaxLength,
    /// <summary>No padding; sequences keep their own lengths.</summary>
    DoNotPad,
}
