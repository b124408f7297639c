using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;

namespace BertSharp.Text;

/// <summary>
/// BERT's normaliser and pre-tokeniser fused into one pass over the original text, feeding each word to
/// WordPiece as soon as it ends. Every stage of Hugging Face's BertNormalizer works per character
/// (clean text, isolate CJK, NFD + drop Mn, lower-case) and the BertPreTokenizer then splits on
/// whitespace and punctuation, so one pass in code-point order gives the same words — with the
/// original span of every normalised char kept for offsets.
/// </summary>
/// <remarks>
/// Differences from running the stages separately that cannot be seen in ids: NFD's canonical reordering
/// of combining marks is not applied (with accents stripped, only spacing marks with a non-zero
/// combining class could be reordered, and two of them never meet in real text). Lone UTF-16
/// surrogates are treated as U+FFFD, which clean_text removes — what a UTF-8 conversion of the .NET
/// string gives the Rust tokenizer.
/// </remarks>
[SkipLocalsInit]
internal sealed class BasicTokenizer
{
    private const byte Letter = 0, Space = 1, Punct = 2, Removed = 3;

    private static readonly byte[] AsciiClass = BuildAsciiClass();

    private readonly bool _cleanText;
    private readonly bool _lowerCase;
    private readonly bool _stripAccents;
    private readonly bool _chinese;
    private readonly WordPieceTokenizer _wordPiece;
    private readonly (string Text, int Id)[] _addedTokens;
    private readonly SearchValues<char>? _addedFirstChars;

    public BasicTokenizer(bool cleanText, bool lowerCase, bool stripAccents, bool tokenizeChineseChars,
        WordPieceTokenizer wordPiece, IReadOnlyList<(string Text, int Id)> addedTokens)
    {
        _cleanText = cleanText;
        _lowerCase = lowerCase;
        _stripAccents = stripAccents;
        _chinese = tokenizeChineseChars;
        _wordPiece = wordPiece;
        // Longest first, so the first match at a position is the leftmost-longest one.
        _addedTokens = [.. addedTokens.Where(t => t.Text.Length > 0).OrderByDescending(t => t.Text.Length)];
        if (_addedTokens.Length > 0)
            _addedFirstChars = SearchValues.Create([.. _addedTokens.Select(t => t.Text[0]).Distinct()]);
    }

    private static byte[] BuildAsciiClass()
    {
        var t = new byte[128];
        for (int c = 0; c < 128; c++)
        {
            var f = UnicodeTables.Get(c);
            t[c] = c == 0 || (f & CharFlags.Other) != 0 ? Removed
                : (f & CharFlags.Whitespace) != 0 ? Space
                : (f & CharFlags.Punctuation) != 0 ? Punct
                : Letter;
        }
        return t;
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/> into <paramref name="output"/> (offsets relative to it). With a
    /// <paramref name="limit"/>, may stop at the first word boundary at or past that many tokens: the
    /// tokens before it are exactly those of the whole text.
    /// </summary>
    public void Encode(ReadOnlySpan<char> text, TokenBuffer output, int limit = int.MaxValue)
    {
        int word = 0;
        if (_addedFirstChars is null)
        {
            EncodeSegment(text, 0, output, ref word, limit);
            return;
        }
        // Special tokens written in the text are matched on the original text, before normalisation
        // (HF's added tokens with normalized=false): "[MASK]" is one token, "[mask]" is not.
        int segmentStart = 0, from = 0;
        while (from < text.Length)
        {
            int rel = text[from..].IndexOfAny(_addedFirstChars);
            if (rel < 0) break;
            int at = from + rel;
            int matched = -1;
            for (int k = 0; k < _addedTokens.Length; k++)
            {
                if (text[at..].StartsWith(_addedTokens[k].Text, StringComparison.Ordinal)) { matched = k; break; }
            }
            if (matched < 0) { from = at + 1; continue; }
            if (EncodeSegment(text[segmentStart..at], segmentStart, output, ref word, limit)) return;
            var (tokenText, id) = _addedTokens[matched];
            output.Add(id, at, at + tokenText.Length, word++);
            segmentStart = from = at + tokenText.Length;
            if (output.Count >= limit) return;
        }
        EncodeSegment(text[segmentStart..], segmentStart, output, ref word, limit);
    }

    /// <summary>Returns true when <paramref name="limit"/> tokens are reached (at a word boundary).</summary>
    private bool EncodeSegment(ReadOnlySpan<char> text, int baseOffset, TokenBuffer output, ref int word, int limit)
    {
        int length = 0; // chars of the word being built
        var asciiClass = AsciiClass;
        // Word arrays in locals (re-read after the word buffer grows, in the slow path too).
        var chars = output.WordChars;
        var starts = output.WordStarts;
        var ends = output.WordEnds;
        Span<int> decomposed = stackalloc int[4];
        var lower = _lowerCase;
        // Most words are runs of ASCII letters, each char at the next index of the text: for those
        // ("contiguous") the per-char spans are implied by the word's start and are not stored, and the
        // word's hash is computed while copying it. The spans are written out as soon as a word stops
        // being contiguous (a skipped control char, a non-ASCII char).
        bool contiguous = true;
        int wordStart = 0;
        uint hash = Vocabulary.Seed;
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (c < 0x80)
            {
                byte cls = asciiClass[c];
                if (cls == Letter || (cls == Removed && !_cleanText))
                {
                    int pos = baseOffset + i;
                    if (length == chars.Length) { output.GrowWord(length + 1); chars = output.WordChars; starts = output.WordStarts; ends = output.WordEnds; }
                    char lc = lower && (uint)(c - 'A') <= 'Z' - 'A' ? (char)(c | 0x20) : c;
                    if (length == 0) { wordStart = pos; contiguous = true; hash = Vocabulary.Seed; }
                    else if (contiguous && pos != wordStart + length) { Materialize(starts, ends, wordStart, length); contiguous = false; }
                    chars[length] = lc;
                    if (contiguous) hash = Vocabulary.Step(hash, lc);
                    else { starts[length] = pos; ends[length] = pos + 1; }
                    length++;
                }
                else if (cls != Removed)
                {
                    if (length > 0)
                    {
                        _wordPiece.Tokenize(output, length, word++, contiguous ? wordStart : -1, hash);
                        length = 0;
                        if (output.Count >= limit) return true;
                    }
                    if (cls == Punct)
                    {
                        chars[0] = c;
                        _wordPiece.Tokenize(output, 1, word++, baseOffset + i, Vocabulary.Step(Vocabulary.Seed, c));
                        if (output.Count >= limit) return true;
                    }
                }
                i++;
                continue;
            }

            if (length > 0 && contiguous) Materialize(starts, ends, wordStart, length);
            contiguous = false;

            int cp, width = 1;
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    cp = char.ConvertToUtf32(c, text[i + 1]);
                    width = 2;
                }
                else
                {
                    cp = 0xFFFD;
                }
            }
            else
            {
                cp = c;
            }
            int start = baseOffset + i, end = start + width;
            i += width;
            var flags = UnicodeTables.Get(cp);
            if (_cleanText)
            {
                if (cp == 0xFFFD || (flags & CharFlags.Other) != 0) continue;
                if ((flags & CharFlags.Whitespace) != 0)
                {
                    if (length > 0) { _wordPiece.Tokenize(output, length, word++, -1, 0); length = 0; }
                    continue;
                }
            }
            bool isolate = _chinese && (flags & CharFlags.Chinese) != 0;
            if (isolate && length > 0) { _wordPiece.Tokenize(output, length, word++, -1, 0); length = 0; }

            // Normalise the code point: NFD and drop Mn when stripping accents, then lower-case.
            int n;
            if (_stripAccents && (flags & CharFlags.Decomposes) != 0) n = UnicodeTables.Decompose(cp, decomposed);
            else { decomposed[0] = cp; n = 1; }
            for (int k = 0; k < n; k++)
            {
                int d = decomposed[k];
                var df = k == 0 && n == 1 ? flags : UnicodeTables.Get(d);
                if (_stripAccents && (df & CharFlags.NonspacingMark) != 0) continue;
                if (lower)
                {
                    if (d == 0x130)
                    {
                        // Rust's char::to_lowercase applies SpecialCasing's one unconditional
                        // lower-case expansion: İ → i + combining dot above.
                        Append(output, ref length, 'i', start, end);
                        Append(output, ref length, '\u0307', start, end);
                        continue;
                    }
                    d = Rune.ToLowerInvariant(new Rune(d)).Value;
                    df = d < 0x80 ? UnicodeTables.Get(d) : df;
                }
                // Pre-tokenisation sees the normalised chars.
                if ((df & CharFlags.Whitespace) != 0)
                {
                    if (length > 0) { _wordPiece.Tokenize(output, length, word++, -1, 0); length = 0; }
                    continue;
                }
                if (d < 0x80 ? AsciiClass[d] == Punct : (UnicodeTables.Get(d) & CharFlags.Punctuation) != 0)
                {
                    if (length > 0) { _wordPiece.Tokenize(output, length, word++, -1, 0); length = 0; }
                    AppendCodePoint(output, ref length, d, start, end);
                    _wordPiece.Tokenize(output, length, word++, -1, 0);
                    length = 0;
                    continue;
                }
                AppendCodePoint(output, ref length, d, start, end);
            }
            if (isolate && length > 0) { _wordPiece.Tokenize(output, length, word++, -1, 0); length = 0; }
            chars = output.WordChars;
            starts = output.WordStarts;
            ends = output.WordEnds;
            if (length == 0 && output.Count >= limit) return true;
        }
        if (length > 0) _wordPiece.Tokenize(output, length, word++, contiguous ? wordStart : -1, hash);
        return output.Count >= limit;
    }

    private static void Materialize(int[] starts, int[] ends, int wordStart, int length)
    {
        for (int k = 0; k < length; k++)
        {
            starts[k] = wordStart + k;
            ends[k] = wordStart + k + 1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Append(TokenBuffer output, ref int length, char c, int start, int end)
    {
        if (length == output.WordChars.Length) output.GrowWord(length + 1);
        output.WordChars[length] = c;
        output.WordStarts[length] = start;
        output.WordEnds[length] = end;
        length++;
    }

    private static void AppendCodePoint(TokenBuffer output, ref int length, int cp, int start, int end)
    {
        if (cp < 0x10000)
        {
            Append(output, ref length, (char)cp, start, end);
            return;
        }
        cp -= 0x10000;
        Append(output, ref length, (char)(0xD800 + (cp >> 10)), start, end);
        Append(output, ref length, (char)(0xDC00 + (cp & 0x3FF)), start, end);
    }
}
