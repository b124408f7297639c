namespace BertSharp.Text;

/// <summary>
/// One encoded sequence (or pair), as Hugging Face's <c>Encoding</c>: parallel arrays with one entry per
/// token. The arrays belong to this object; treat them as read-only.
/// </summary>
public sealed class TokenEncoding
{
    private readonly string[] _vocabulary;
    private string[]? _tokens;
    // Word index per token, -1 for added tokens and padding; the nullable views are built on demand so
    // encoding does not pay for them.
    private int[] _words;
    private int?[]? _wordIds;
    private int?[]? _sequenceIds;

    // The layout [CLS] A [SEP] (B [SEP]) [PAD]… is enough to derive type ids and the two masks, so they
    // are built only when read: encoding for a model usually needs ids alone.
    private readonly bool _special;
    private readonly int _firstLength;
    private readonly int _secondLength; // -1 without a pair
    private readonly int _realLength;
    private int[]? _typeIds, _attentionMask, _specialTokensMask;

    internal TokenEncoding(string[] vocabulary, int[] ids, (int Start, int End)[] offsets, int[] words,
        bool special, int firstLength, int secondLength)
    {
        _vocabulary = vocabulary;
        Ids = ids;
        Offsets = offsets;
        _words = words;
        _special = special;
        _firstLength = firstLength;
        _secondLength = secondLength;
        _realLength = ids.Length;
    }

    /// <summary>Token ids (<c>input_ids</c>).</summary>
    public int[] Ids { get; private set; }

    /// <summary>Segment ids (<c>token_type_ids</c>): 0 up to and including the first <c>[SEP]</c>, then 1.</summary>
    public int[] TypeIds => _typeIds ??= BuildTypeIds();

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public int[] AttentionMask => _attentionMask ??= BuildAttentionMask();

    /// <summary>1 for tokens added by the tokenizer (<c>[CLS]</c>, <c>[SEP]</c>, padding), 0 for tokens of the text.</summary>
    public int[] SpecialTokensMask => _specialTokensMask ??= BuildSpecialTokensMask();

    /// <summary>Number of tokens before padding.</summary>
    public int RealLength => _realLength;

    private int SecondStart => _firstLength + (_special ? 2 : 0);

    private int[] BuildTypeIds()
    {
        var t = new int[Ids.Length];
        if (_secondLength >= 0) t.AsSpan(SecondStart, _realLength - SecondStart).Fill(1);
        return t;
    }

    private int[] BuildAttentionMask()
    {
        var m = new int[Ids.Length];
        m.AsSpan(0, _realLength).Fill(1);
        return m;
    }

    private int[] BuildSpecialTokensMask()
    {
        var m = new int[Ids.Length];
        m.AsSpan(_realLength).Fill(1);
        if (_special)
        {
            m[0] = 1;
            m[_firstLength + 1] = 1;
            if (_secondLength >= 0) m[_realLength - 1] = 1;
        }
        return m;
    }

    /// <summary>
    /// For each token, the [start, end) range of the original string it came from, in UTF-16 code units
    /// (.NET string indices; HF's Python reports code points, which differ only after an astral char).
    /// Tokens of the pair index into the pair string. Added tokens have (0, 0).
    /// </summary>
    public (int Start, int End)[] Offsets { get; private set; }

    /// <summary>For each token, the index of the word it belongs to within its sequence; null for added tokens.</summary>
    public int?[] WordIds => _wordIds ??= Array.ConvertAll(_words, w => w < 0 ? (int?)null : w);

    /// <summary>For each token, 0 (text) or 1 (pair); null for added tokens and padding.</summary>
    public int?[] SequenceIds => _sequenceIds ??= BuildSequenceIds();

    private int?[] BuildSequenceIds()
    {
        var s = new int?[Ids.Length];
        for (int i = 0; i < s.Length; i++) s[i] = SpecialTokensMask[i] == 1 ? null : TypeIds[i];
        return s;
    }

    /// <summary>The token strings (from the vocabulary; no allocation per token).</summary>
    public string[] Tokens => _tokens ??= Array.ConvertAll(Ids, id => _vocabulary[id]);

    /// <summary>What truncation cut off, as further windows of at most the same length (when asked for).</summary>
    public IReadOnlyList<TokenEncoding> Overflowing { get; internal set; } = [];

    /// <summary>Number of tokens, padding included.</summary>
    public int Length => Ids.Length;

    internal void PadTo(int length, int padId)
    {
        int n = Ids.Length;
        if (length <= n) return;
        Ids = Extend(Ids, length, padId);
        Offsets = Extend(Offsets, length, (0, 0));
        _words = Extend(_words, length, -1);
        _tokens = null;
        _typeIds = _attentionMask = _specialTokensMask = null;
        _wordIds = null;
        _sequenceIds = null;
    }

    private static T[] Extend<T>(T[] a, int length, T fill)
    {
        var r = new T[length];
        a.CopyTo(r, 0);
        r.AsSpan(a.Length).Fill(fill);
        return r;
    }
}
