namespace BertSharp.Text;

/// <summary>
/// One encoded sequence (or pair), as Hugging Face's <c>Encoding</c>: parallel arrays with one entry per
/// token. The arrays belong to this object; treat them as read-only.
/// </summary>
public sealed class Encoding
{
    private readonly string[] _vocabulary;
    private string[]? _tokens;

    internal Encoding(string[] vocabulary, int[] ids, int[] typeIds, int[] attentionMask, int[] specialTokensMask,
        (int Start, int End)[] offsets, int?[] wordIds, int?[] sequenceIds)
    {
        _vocabulary = vocabulary;
        Ids = ids;
        TypeIds = typeIds;
        AttentionMask = attentionMask;
        SpecialTokensMask = specialTokensMask;
        Offsets = offsets;
        WordIds = wordIds;
        SequenceIds = sequenceIds;
    }

    /// <summary>Token ids (<c>input_ids</c>).</summary>
    public int[] Ids { get; private set; }

    /// <summary>Segment ids (<c>token_type_ids</c>): 0 up to and including the first <c>[SEP]</c>, then 1.</summary>
    public int[] TypeIds { get; private set; }

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public int[] AttentionMask { get; private set; }

    /// <summary>1 for tokens added by the tokenizer (<c>[CLS]</c>, <c>[SEP]</c>, padding), 0 for tokens of the text.</summary>
    public int[] SpecialTokensMask { get; private set; }

    /// <summary>
    /// For each token, the [start, end) range of the original string it came from, in UTF-16 code units
    /// (.NET string indices; HF's Python reports code points, which differ only after an astral char).
    /// Tokens of the pair index into the pair string. Added tokens have (0, 0).
    /// </summary>
    public (int Start, int End)[] Offsets { get; private set; }

    /// <summary>For each token, the index of the word it belongs to within its sequence; null for added tokens.</summary>
    public int?[] WordIds { get; private set; }

    /// <summary>For each token, 0 (text) or 1 (pair); null for added tokens.</summary>
    public int?[] SequenceIds { get; private set; }

    /// <summary>The token strings (from the vocabulary; no allocation per token).</summary>
    public string[] Tokens => _tokens ??= Array.ConvertAll(Ids, id => _vocabulary[id]);

    /// <summary>What truncation cut off, as further windows of at most the same length (when asked for).</summary>
    public IReadOnlyList<Encoding> Overflowing { get; internal set; } = [];

    /// <summary>Number of tokens, padding included.</summary>
    public int Length => Ids.Length;

    internal void PadTo(int length, int padId)
    {
        int n = Ids.Length;
        if (length <= n) return;
        Ids = Extend(Ids, length, padId);
        TypeIds = Extend(TypeIds, length, 0);
        AttentionMask = Extend(AttentionMask, length, 0);
        SpecialTokensMask = Extend(SpecialTokensMask, length, 1);
        Offsets = Extend(Offsets, length, (0, 0));
        WordIds = Extend(WordIds, length, null);
        SequenceIds = Extend(SequenceIds, length, null);
        _tokens = null;
    }

    private static T[] Extend<T>(T[] a, int length, T fill)
    {
        var r = new T[length];
        a.CopyTo(r, 0);
        r.AsSpan(a.Length).Fill(fill);
        return r;
    }
}
