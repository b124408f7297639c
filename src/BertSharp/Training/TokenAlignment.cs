using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// One window of a tagged sentence as the model reads it: ids with [CLS]/[SEP], a label per token, and the word
/// each token belongs to (-1 for [CLS]/[SEP]) and whether it is that word's first piece.
/// </summary>
internal sealed record TokenWindow(int[] InputIds, int[] Labels, int[] WordOfToken, bool[] FirstPiece);

/// <summary>
/// Word-level tags aligned to word pieces as Hugging Face's token-classification examples align them: the first
/// piece of each word carries the word's tag, later pieces and special tokens get the ignore index (or, with
/// label-all-tokens, the word's tag with B- turned into I-). A sentence longer than the maximum length becomes
/// overlapping windows (the tokenizer's overflow with a stride), so no word is dropped.
/// </summary>
internal static class TokenAlignment
{
    /// <summary>The sentence's words joined by single spaces, and where each word starts in that text.</summary>
    public static (string Text, int[] Starts) Join(IReadOnlyList<string> words)
    {
        var starts = new int[words.Count];
        var sb = new System.Text.StringBuilder();
        for (int w = 0; w < words.Count; w++)
        {
            if (w > 0) sb.Append(' ');
            starts[w] = sb.Length;
            sb.Append(words[w]);
        }
        return (sb.ToString(), starts);
    }

    /// <summary>The word a character belongs to, given the words' start offsets (sorted).</summary>
    public static int WordAt(int[] starts, int offset)
    {
        int i = Array.BinarySearch(starts, offset);
        return i >= 0 ? i : ~i - 1;
    }

    /// <summary>
    /// Tokenizes a sentence's words and aligns their tag ids (null: no labels, e.g. for inference) to the pieces,
    /// in windows of at most <paramref name="maxLength"/> tokens of which consecutive ones share <paramref name="stride"/> pieces.
    /// </summary>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="words">The sentence's words.</param>
    /// <param name="tagIds">One tag id per word, or null.</param>
    /// <param name="maxLength">Tokens per window, [CLS] and [SEP] included.</param>
    /// <param name="stride">Pieces consecutive windows share.</param>
    /// <param name="labelAllTokens">Label every piece of a word, not only the first.</param>
    /// <param name="beginToInside">For label-all-tokens: a B- tag's id → its I- tag's id (others map to themselves).</param>
    public static List<TokenWindow> Align(BertTokenizer tokenizer, IReadOnlyList<string> words, IReadOnlyList<int>? tagIds, int maxLength, int stride,
        bool labelAllTokens = false, IReadOnlyList<int>? beginToInside = null)
    {
        var (text, starts) = Join(words);
        var first = tokenizer.Encode(text, options: new EncodeOptions { MaxLength = maxLength, Stride = stride, ReturnOverflowing = true });
        var windows = new List<TokenWindow>();
        foreach (var encoding in new[] { first }.Concat(first.Overflowing))
        {
            int n = encoding.Ids.Length;
            var labels = new int[n];
            var wordOf = new int[n];
            var firstPieces = new bool[n];
            var special = encoding.SpecialTokensMask;
            int previousWord = -1;
            for (int t = 0; t < n; t++)
            {
                if (special[t] == 1)
                {
                    labels[t] = BertPreTrainedModel.IgnoreIndex;
                    wordOf[t] = previousWord = -1;
                    continue;
                }
                int word = WordAt(starts, encoding.Offsets[t].Start);
                wordOf[t] = word;
                // A new word's first piece, except where a window opens inside a word (its first piece is in the
                // window before): a word's first piece starts where the word does.
                bool firstPiece = word != previousWord && (t > 1 || encoding.Offsets[t].Start == starts[word]);
                firstPieces[t] = firstPiece;
                labels[t] = tagIds is null ? BertPreTrainedModel.IgnoreIndex
                    : firstPiece ? tagIds[word]
                    : labelAllTokens ? (beginToInside is null ? tagIds[word] : beginToInside[tagIds[word]])
                    : BertPreTrainedModel.IgnoreIndex;
                previousWord = word;
            }
            windows.Add(new TokenWindow(encoding.Ids, labels, wordOf, firstPieces));
        }
        return windows;
    }
}
