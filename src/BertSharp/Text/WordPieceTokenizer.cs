using System.Runtime.CompilerServices;

namespace BertSharp.Text;

/// <summary>
/// WordPiece: greedy longest-match-first with <c>##</c> continuations. A word that cannot be covered,
/// or that is longer than <see cref="MaxInputCharsPerWord"/> code points, becomes one unknown token.
/// </summary>
[SkipLocalsInit]
internal sealed class WordPieceTokenizer(Vocabulary vocabulary, int unkId, int maxInputCharsPerWord)
{
    public int MaxInputCharsPerWord { get; } = maxInputCharsPerWord;

    private readonly int _maxPiece = Math.Max(1, Math.Max(vocabulary.MaxWordStartLength, vocabulary.MaxContinuationLength));

    /// <summary>
    /// Appends the pieces of the word held in <paramref name="buffer"/>'s word arrays. A word whose
    /// char k came from index <paramref name="contiguousStart"/> + k of the text passes that start (its
    /// per-char spans are not stored) and its FNV <paramref name="hash"/>; other words pass -1.
    /// </summary>
    public void Tokenize(TokenBuffer buffer, int length, int word, int contiguousStart, uint hash)
    {
        var w = buffer.WordChars.AsSpan(0, length);
        if (contiguousStart >= 0)
        {
            // The common case: the whole word is a token.
            if (length <= vocabulary.MaxWordStartLength)
            {
                int whole = vocabulary.Find(w, hash, false);
                if (whole >= 0)
                {
                    buffer.Add(whole, contiguousStart, contiguousStart + length, word);
                    return;
                }
            }
            var implied = buffer.WordStarts;
            if (implied.Length < length) buffer.GrowWord(length);
            for (int k = 0; k < length; k++)
            {
                buffer.WordStarts[k] = contiguousStart + k;
                buffer.WordEnds[k] = contiguousStart + k + 1;
            }
            w = buffer.WordChars.AsSpan(0, length);
        }
        var starts = buffer.WordStarts;
        var ends = buffer.WordEnds;
        if (length > MaxInputCharsPerWord && CodePointCount(w) > MaxInputCharsPerWord)
        {
            buffer.Add(unkId, starts[0], ends[length - 1], word);
            return;
        }

        int mark = buffer.Count;
        Span<uint> prefixHashes = stackalloc uint[_maxPiece];
        int start = 0;
        while (start < length)
        {
            bool continuation = start > 0;
            int maxLength = Math.Min(length - start, continuation ? vocabulary.MaxContinuationLength : vocabulary.MaxWordStartLength);
            uint h = Vocabulary.Seed;
            for (int k = 0; k < maxLength; k++)
            {
                h = Vocabulary.Step(h, w[start + k]);
                prefixHashes[k] = h;
            }
            int id = -1, n = maxLength;
            for (; n > 0; n--)
            {
                id = vocabulary.Find(w.Slice(start, n), prefixHashes[n - 1], continuation);
                if (id >= 0) break;
            }
            if (id < 0)
            {
                buffer.Count = mark;
                buffer.Add(unkId, starts[0], ends[length - 1], word);
                return;
            }
            buffer.Add(id, starts[start], ends[start + n - 1], word);
            start += n;
        }
    }

    private static int CodePointCount(ReadOnlySpan<char> s)
    {
        int n = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsHighSurrogate(s[i]) && char.IsLowSurrogate(s[i + 1])) { n--; i++; }
        return n;
    }
}
