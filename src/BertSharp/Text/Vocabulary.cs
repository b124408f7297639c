using System.Runtime.CompilerServices;

namespace BertSharp.Text;

/// <summary>
/// A WordPiece vocabulary: token ↔ id, with lookups on spans so the tokenizer never allocates a string
/// per token. Tokens starting with <c>##</c> (continuations) are stored without the prefix in their own
/// key space, so a piece in the middle of a word is looked up without building "##" + piece.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>The continuation prefix of WordPiece.</summary>
    public const string ContinuationPrefix = "##";

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _byToken;

    // Open-addressing table over (continuation flag, chars), entries stored in the slots themselves so
    // a probe touches one 16-byte slot (Length 0 = empty). The hash of a piece is FNV-1a over its chars,
    // so the tokenizer computes the hashes of every prefix of a word in one pass and probes longest-first.
    private readonly Slot[] _slots;
    private readonly int _mask;
    private readonly char[] _pool;

    private struct Slot
    {
        public uint Hash;
        public int Start;
        public int Length; // negative for continuations
        public int Id;
    }

    internal Vocabulary(IReadOnlyList<string> tokens, string source)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0) throw new InvalidDataException($"{source}: the vocabulary is empty");
        _tokens = [.. tokens];
        _byToken = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < _tokens.Length; i++)
        {
            // HF keeps the last id of a duplicated token when reading vocab.txt; duplicates are rare
            // (empty lines in hand-made files) and the id → token direction stays as written.
            _byToken[_tokens[i]] = i;
        }

        int capacity = 1;
        while (capacity < _byToken.Count * 2) capacity <<= 1;
        _slots = new Slot[capacity];
        _mask = capacity - 1;
        int poolLength = 0;
        foreach (var t in _byToken.Keys) poolLength += t.Length;
        _pool = new char[poolLength];
        int pos = 0;
        foreach (var (token, id) in _byToken)
        {
            bool continuation = token.Length > ContinuationPrefix.Length && token.StartsWith(ContinuationPrefix, StringComparison.Ordinal);
            var key = continuation ? token.AsSpan(ContinuationPrefix.Length) : token.AsSpan();
            if (token.Length == 0) continue;
            if (continuation) MaxContinuationLength = Math.Max(MaxContinuationLength, key.Length);
            else MaxWordStartLength = Math.Max(MaxWordStartLength, key.Length);
            uint h = Hash(key);
            uint full = Finish(h, key.Length, continuation);
            key.CopyTo(_pool.AsSpan(pos));
            int b = (int)(full & (uint)_mask);
            while (_slots[b].Length != 0) b = (b + 1) & _mask;
            _slots[b] = new Slot { Hash = full, Start = pos, Length = continuation ? -key.Length : key.Length, Id = id };
            pos += key.Length;
        }
    }

    /// <summary>Number of tokens (the model's <c>vocab_size</c>).</summary>
    public int Count => _tokens.Length;

    /// <summary>The token with the given id.</summary>
    public string this[int id] => (uint)id < (uint)_tokens.Length
        ? _tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is outside the vocabulary (0..{_tokens.Length - 1})");

    /// <summary>The id of a token (continuations written with their <c>##</c>), or null when absent.</summary>
    public int? TryGetId(string token) => _byToken.TryGetValue(token, out int id) ? id : null;

    internal string[] Tokens => _tokens;

    /// <summary>Longest word-initial token, in UTF-16 units: no longer prefix can match.</summary>
    internal int MaxWordStartLength { get; }

    /// <summary>Longest continuation token without its <c>##</c>, in UTF-16 units.</summary>
    internal int MaxContinuationLength { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Step(uint h, char c) => (h ^ c) * 16777619u;

    internal const uint Seed = 2166136261u;

    internal static uint Hash(ReadOnlySpan<char> s)
    {
        uint h = Seed;
        foreach (char c in s) h = Step(h, c);
        return h;
    }

    /// <summary>Mixes the running FNV state with the length and the continuation flag into a bucket hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Finish(uint h, int length, bool continuation)
    {
        h ^= (uint)length * 0x9E3779B9u ^ (continuation ? 0x85EBCA6Bu : 0u);
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return h;
    }

    /// <summary>
    /// Looks up a piece given the FNV state <paramref name="h"/> of its chars; -1 when absent.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Find(ReadOnlySpan<char> piece, uint h, bool continuation)
    {
        uint full = Finish(h, piece.Length, continuation);
        int signedLength = continuation ? -piece.Length : piece.Length;
        var slots = _slots;
        int b = (int)(full & (uint)_mask);
        while (true)
        {
            ref readonly Slot slot = ref slots[b];
            if (slot.Length == 0) return -1;
            if (slot.Hash == full && slot.Length == signedLength
                && piece.SequenceEqual(new ReadOnlySpan<char>(_pool, slot.Start, piece.Length)))
                return slot.Id;
            b = (b + 1) & _mask;
        }
    }

    internal int Find(ReadOnlySpan<char> piece, bool continuation) => Find(piece, Hash(piece), continuation);

    /// <summary>
    /// Reads a <c>vocab.txt</c>: one token per line, id = line number, LF or CRLF line ends (a UTF-8
    /// byte-order mark is ignored). A final empty line is not a token.
    /// </summary>
    public static Vocabulary Read(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var tokens = new List<string>(32_000);
        string? line;
        while ((line = reader.ReadLine()) is not null) tokens.Add(line);
        return new Vocabulary(tokens, source);
    }
}
