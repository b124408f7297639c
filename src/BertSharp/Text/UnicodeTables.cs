using System.Runtime.CompilerServices;

namespace BertSharp.Text;

/// <summary>What BERT's normaliser and pre-tokeniser need to know about a code point.</summary>
[Flags]
internal enum CharFlags : byte
{
    None = 0,
    /// <summary>Cc, Cf and some Co: removed by clean_text (tab, LF and CR excepted).</summary>
    Other = 1,
    /// <summary>White_Space, plus tab, LF and CR.</summary>
    Whitespace = 2,
    /// <summary>ASCII punctuation or general category P*.</summary>
    Punctuation = 4,
    /// <summary>In the CJK ranges that BERT isolates as words of their own.</summary>
    Chinese = 8,
    /// <summary>Mn: dropped when accents are stripped.</summary>
    NonspacingMark = 16,
    /// <summary>Has a canonical decomposition (NFD changes it).</summary>
    Decomposes = 32,
}

/// <summary>
/// Character classes with the semantics of Hugging Face's Rust tokenizer (normalizers/bert.rs and the
/// BertPreTokenizer). The category data comes from <see cref="UnicodeVersion"/> of the UCD (see
/// UnicodeTables.g.cs), not from the running .NET, so results do not change with the runtime.
/// </summary>
internal static partial class UnicodeTables
{
    private static readonly byte[] Bmp = BuildBmp();
    private static readonly Dictionary<int, (int Start, int Length)> DecompositionIndex = BuildDecompositionIndex(out DecompositionData);
    private static readonly int[] DecompositionData;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static CharFlags Get(int cp) => cp < 0x10000 ? (CharFlags)Bmp[cp] : GetAstral(cp);

    private static CharFlags GetAstral(int cp)
    {
        var f = CharFlags.None;
        if (InRanges(OtherRanges, cp)) f |= CharFlags.Other;
        if (InRanges(PunctuationRanges, cp)) f |= CharFlags.Punctuation;
        if (InRanges(NonspacingMarkRanges, cp)) f |= CharFlags.NonspacingMark;
        if (IsChinese(cp)) f |= CharFlags.Chinese;
        if (DecompositionIndex.ContainsKey(cp)) f |= CharFlags.Decomposes;
        return f;
    }

    /// <summary>
    /// HF's CJK ranges. They are not the whole of the CJK blocks: HF starts Extension C's successor at
    /// U+2B920 (skipping U+2B820–U+2B91F) and stops at U+2CEAF; later extensions are ordinary letters.
    /// </summary>
    public static bool IsChinese(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B920 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>Rust's <c>char::is_whitespace</c> (the White_Space property, stable since Unicode 6.3).</summary>
    private static bool IsWhitespace(int cp) =>
        cp is (>= 0x9 and <= 0xD) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static bool InRanges(ReadOnlySpan<int> ranges, int cp)
    {
        int lo = 0, hi = ranges.Length / 2 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (cp < ranges[2 * mid]) hi = mid - 1;
            else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }
        return false;
    }

    private static byte[] BuildBmp()
    {
        var t = new byte[0x10000];
        Mark(t, OtherRanges, CharFlags.Other);
        Mark(t, PunctuationRanges, CharFlags.Punctuation);
        Mark(t, NonspacingMarkRanges, CharFlags.NonspacingMark);
        for (int cp = 0; cp < 0x10000; cp++)
        {
            if (IsWhitespace(cp)) t[cp] |= (byte)CharFlags.Whitespace;
            if (IsChinese(cp)) t[cp] |= (byte)CharFlags.Chinese;
            // HF checks ASCII punctuation separately (char::is_ascii_punctuation): $ + < = > ^ ` | ~ are
            // symbols in Unicode but punctuation to BERT.
            if (cp < 0x80 && char.IsAsciiLetterOrDigit((char)cp) is false && cp > 0x20 && cp < 0x7F)
                t[cp] |= (byte)CharFlags.Punctuation;
        }
        // Tab, LF and CR are Cc but count as whitespace, never as removable control characters.
        foreach (int cp in (ReadOnlySpan<int>)[0x9, 0xA, 0xD]) t[cp] = (byte)CharFlags.Whitespace;
        var decompositions = Decompositions;
        for (int i = 0; i < decompositions.Length; i += 2 + decompositions[i + 1])
            if (decompositions[i] < 0x10000) t[decompositions[i]] |= (byte)CharFlags.Decomposes;
        for (int cp = 0xAC00; cp <= 0xD7A3; cp++) t[cp] |= (byte)CharFlags.Decomposes;
        return t;
    }

    private static void Mark(byte[] t, ReadOnlySpan<int> ranges, CharFlags flag)
    {
        for (int i = 0; i < ranges.Length; i += 2)
            for (int cp = ranges[i]; cp <= ranges[i + 1] && cp < 0x10000; cp++) t[cp] |= (byte)flag;
    }

    private static Dictionary<int, (int, int)> BuildDecompositionIndex(out int[] data)
    {
        var source = Decompositions;
        data = source.ToArray();
        var index = new Dictionary<int, (int, int)>();
        for (int i = 0; i < source.Length; i += 2 + source[i + 1]) index[source[i]] = (i + 2, source[i + 1]);
        return index;
    }

    /// <summary>
    /// Writes the full canonical decomposition (NFD) of one code point; returns the number of code points.
    /// <paramref name="destination"/> must hold 4.
    /// </summary>
    public static int Decompose(int cp, Span<int> destination)
    {
        const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, TCount = 28, NCount = 21 * 28, SCount = 11172;
        int s = cp - SBase;
        if ((uint)s < SCount)
        {
            destination[0] = LBase + s / NCount;
            destination[1] = VBase + s % NCount / TCount;
            int t = s % TCount;
            if (t == 0) return 2;
            destination[2] = TBase + t;
            return 3;
        }
        if (DecompositionIndex.TryGetValue(cp, out var entry))
        {
            DecompositionData.AsSpan(entry.Start, entry.Length).CopyTo(destination);
            return entry.Length;
        }
        destination[0] = cp;
        return 1;
    }
}
