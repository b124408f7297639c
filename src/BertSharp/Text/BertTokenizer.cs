using System.Text;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Text;

/// <summary>
/// BERT's WordPiece tokenizer, giving the ids of Hugging Face's Rust <c>tokenizers</c> (what
/// <c>AutoTokenizer</c> uses): normalisation (clean text, CJK isolation, accent stripping, lower-casing),
/// pre-tokenisation on whitespace and punctuation, greedy longest-match-first WordPiece, special tokens,
/// pairs, truncation with overflow windows, padding and decoding. Thread-safe.
/// </summary>
/// <remarks>
/// <para>Character classes come from tables shipped in the library (see <c>UnicodeTables.g.cs</c>), not
/// from the running .NET, so ids do not change with the runtime. They reproduce Hugging Face's: its
/// category crate is Unicode 8.0, so the ~500 code points assigned or re-classed since (for example
/// U+061D, U+08E2, U+2E43, U+1B7D) are treated as HF treats them — as letters — rather than as their
/// current punctuation, format or mark category. Every code point is checked against HF's tokenizer
/// by the test suite. Decomposition (NFD) data is Unicode 14.0.</para>
/// <para>Lone UTF-16 surrogates are read as U+FFFD and so removed, as a UTF-8 conversion would give
/// HF. Offsets are UTF-16 indices into the .NET string.</para>
/// </remarks>
public sealed class BertTokenizer
{
    private static readonly string[] RequiredSpecialTokens = ["[UNK]", "[CLS]", "[SEP]"];
    private static readonly string[] DefaultSpecialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    private readonly BasicTokenizer _basic;
    private readonly HashSet<int> _specialIds;
    private readonly int _padId;

    private BertTokenizer(Vocabulary vocabulary, BertTokenizerOptions options, IReadOnlyList<string> specialTokens, string source)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxLength);
        Vocabulary = vocabulary;
        Options = options;
        foreach (var t in RequiredSpecialTokens)
            if (vocabulary.TryGetId(t) is null)
                throw new InvalidDataException($"{source}: the vocabulary has no {t} token, which BERT needs");
        UnkId = vocabulary.TryGetId("[UNK]")!.Value;
        ClsId = vocabulary.TryGetId("[CLS]")!.Value;
        SepId = vocabulary.TryGetId("[SEP]")!.Value;
        _padId = vocabulary.TryGetId("[PAD]") ?? -1;
        MaskId = vocabulary.TryGetId("[MASK]");
        var added = new List<(string, int)>();
        foreach (var t in specialTokens)
            if (vocabulary.TryGetId(t) is int id) added.Add((t, id));
        _specialIds = [.. added.Select(a => a.Item2)];
        var wordPiece = new WordPieceTokenizer(vocabulary, UnkId, options.MaxInputCharsPerWord);
        _basic = new BasicTokenizer(options.CleanText, options.DoLowerCase, options.EffectiveStripAccents,
            options.TokenizeChineseChars, wordPiece, added);
    }

    /// <summary>The vocabulary.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>The normalisation options.</summary>
    public BertTokenizerOptions Options { get; }

    /// <summary>Id of <c>[CLS]</c> (101 in bert-base-uncased).</summary>
    public int ClsId { get; }

    /// <summary>Id of <c>[SEP]</c> (102).</summary>
    public int SepId { get; }

    /// <summary>Id of <c>[UNK]</c> (100).</summary>
    public int UnkId { get; }

    /// <summary>Id of <c>[PAD]</c> (0); padding fails when the vocabulary has none.</summary>
    public int PadId => _padId >= 0 ? _padId : throw new InvalidOperationException("the vocabulary has no [PAD] token, so batches cannot be padded");

    /// <summary>Id of <c>[MASK]</c> (103), or null when the vocabulary has none.</summary>
    public int? MaskId { get; }

    // ---- loading ----

    /// <summary>Loads a <c>vocab.txt</c> (one token per line, LF or CRLF).</summary>
    public static BertTokenizer FromVocabFile(string path, BertTokenizerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"vocabulary file '{path}' does not exist", path);
        using var stream = File.OpenRead(path);
        return FromVocab(stream, options, path);
    }

    /// <summary>Reads a <c>vocab.txt</c> from a stream; <paramref name="source"/> names it in errors.</summary>
    public static BertTokenizer FromVocab(Stream stream, BertTokenizerOptions? options = null, string source = "vocab.txt")
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true, leaveOpen: true);
        var vocabulary = Vocabulary.Read(reader, source);
        return new BertTokenizer(vocabulary, options ?? new BertTokenizerOptions(), DefaultSpecialTokens, source);
    }

    /// <summary>Loads a Hugging Face <c>tokenizer.json</c> whose model is WordPiece with a BertNormalizer.</summary>
    public static BertTokenizer FromTokenizerJson(string path, int maxLength = 512) =>
        FromTokenizerJson(path, options => options with { MaxLength = maxLength });

    private static BertTokenizer FromTokenizerJson(string path, Func<BertTokenizerOptions, BertTokenizerOptions> adjust)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file '{path}' does not exist", path);
        var (vocabulary, options, specials) = TokenizerJson.Read(path);
        return new BertTokenizer(vocabulary, adjust(options), specials, path);
    }

    /// <summary>The vocabulary of a built-in model (<see cref="BuiltInModels"/>): bert-base-uncased's for both.</summary>
    public static BertTokenizer FromBuiltIn(string name = BuiltInModels.Default, BertTokenizerOptions? options = null)
    {
        using var stream = BuiltInModels.OpenVocab(name);
        return FromVocab(stream, options, $"built-in model '{name}' vocab.txt");
    }

    /// <summary>
    /// Loads a Hugging Face model directory: <c>tokenizer.json</c> if present, else <c>vocab.txt</c>.
    /// <c>do_lower_case</c>, <c>strip_accents</c>, <c>tokenize_chinese_chars</c> and
    /// <c>model_max_length</c> in <c>tokenizer_config.json</c>, when present, override (as transformers
    /// does); otherwise tokenizer.json's normalizer, or uncased and 512 for a bare vocab.txt.
    /// </summary>
    public static BertTokenizer FromDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"model directory '{directory}' does not exist");
        var config = Path.Combine(directory, "tokenizer_config.json");
        var json = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(json)) return FromTokenizerJson(json, options => TokenizerJson.ApplyConfig(config, options));
        var vocab = Path.Combine(directory, "vocab.txt");
        if (!File.Exists(vocab))
            throw new FileNotFoundException($"model directory '{directory}' has neither vocab.txt nor tokenizer.json", vocab);
        return FromVocabFile(vocab, TokenizerJson.ApplyConfig(config, new BertTokenizerOptions()));
    }

    // ---- tokenizing ----

    /// <summary>The WordPiece tokens of a text, without special tokens (HF's <c>tokenize</c>).</summary>
    public string[] Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (buffer, _) = TokenBuffer.ForThread();
        _basic.Encode(text, buffer);
        var tokens = new string[buffer.Count];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = Vocabulary.Tokens[buffer.Ids[i]];
        return tokens;
    }

    /// <summary>
    /// Encodes a text, or a pair, as HF's <c>tokenizer(text, pair)</c>:
    /// <c>[CLS] A [SEP]</c> / <c>[CLS] A [SEP] B [SEP]</c>, truncated as <paramref name="options"/> say.
    /// </summary>
    /// <exception cref="ArgumentException">The maximum length cannot hold the special tokens, the stride
    /// does not fit in it, or <c>only_first</c>/<c>only_second</c> cannot cut enough.</exception>
    public TokenEncoding Encode(string text, string? pair = null, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= EncodeOptions.Default;
        var (a, b) = TokenBuffer.ForThread();
        // A single text cut to the maximum length without overflow needs only its first tokens: stop
        // early (a 10 MB text costs what its first 512 tokens cost).
        int limit = pair is null && !options.ReturnOverflowing && options.Truncation != TruncationStrategy.DoNotTruncate
            ? Math.Max(0, (options.MaxLength ?? Options.MaxLength) - (options.AddSpecialTokens ? 2 : 0)) + 1
            : int.MaxValue;
        _basic.Encode(text, a, limit);
        if (pair is not null) _basic.Encode(pair, b);
        return Build(a, pair is null ? null : b, options);
    }

    /// <summary>The ids of a text with <c>[CLS]</c> and <c>[SEP]</c>, truncated to the maximum length.</summary>
    public int[] EncodeToIds(string text) => Encode(text).Ids;

    /// <summary>
    /// Writes the ids of a text — <c>[CLS]</c>, its first tokens, <c>[SEP]</c> — into
    /// <paramref name="destination"/>, truncated to its length (at least 2), and returns how many were
    /// written. The allocation-free path for feeding a model.
    /// </summary>
    public int EncodeToIds(ReadOnlySpan<char> text, Span<int> destination)
    {
        if (destination.Length < 2)
            throw new ArgumentException($"the destination holds {destination.Length} ids; [CLS] and [SEP] need 2", nameof(destination));
        var (buffer, _) = TokenBuffer.ForThread();
        int room = destination.Length - 2;
        _basic.Encode(text, buffer, room + 1);
        int n = Math.Min(buffer.Count, room);
        destination[0] = ClsId;
        buffer.Ids.AsSpan(0, n).CopyTo(destination[1..]);
        destination[n + 1] = SepId;
        return n + 2;
    }

    /// <summary>Encodes many texts (or pairs) on all cores, then pads them as asked.</summary>
    public TokenEncoding[] EncodeBatch(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        EncodeOptions? options = null, PaddingStrategy padding = PaddingStrategy.Longest)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (pairs is not null && pairs.Count != texts.Count)
            throw new ArgumentException($"{texts.Count} texts but {pairs.Count} pairs", nameof(pairs));
        options ??= EncodeOptions.Default;
        var result = new TokenEncoding[texts.Count];
        for (int i = 0; i < texts.Count; i++)
            if (texts[i] is null) throw new ArgumentNullException(nameof(texts), $"text {i} is null");
        if (texts.Count < 8)
        {
            for (int i = 0; i < texts.Count; i++) result[i] = Encode(texts[i], pairs?[i], options);
        }
        else
        {
            Parallel.For(0, texts.Count, i => result[i] = Encode(texts[i], pairs?[i], options));
        }
        int target = padding switch
        {
            PaddingStrategy.Longest => result.Length == 0 ? 0 : result.Max(e => e.Length),
            PaddingStrategy.MaxLength => options.MaxLength ?? Options.MaxLength,
            _ => 0,
        };
        if (padding != PaddingStrategy.DoNotPad)
        {
            int padId = PadId;
            foreach (var e in result) e.PadTo(target, padId);
        }
        return result;
    }

    /// <summary>
    /// Encodes a batch on all cores into the encoder's input: ids, token type ids and attention mask,
    /// padded (to the longest unless <paramref name="padding"/> says max length).
    /// </summary>
    public BertInput EncodeBatchToInput(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        EncodeOptions? options = null, PaddingStrategy padding = PaddingStrategy.Longest)
    {
        if (padding == PaddingStrategy.DoNotPad)
            throw new ArgumentException("a BertInput is rectangular: pad to the longest or to the maximum length", nameof(padding));
        var encodings = EncodeBatch(texts, pairs, options, padding);
        if (encodings.Length == 0) throw new ArgumentException("the batch is empty", nameof(texts));
        int batch = encodings.Length, length = encodings[0].Length;
        var ids = new int[batch * length];
        var types = new int[batch * length];
        var mask = new int[batch * length];
        for (int i = 0; i < batch; i++)
        {
            encodings[i].Ids.CopyTo(ids, i * length);
            encodings[i].TypeIds.CopyTo(types, i * length);
            encodings[i].AttentionMask.CopyTo(mask, i * length);
        }
        return new BertInput(batch, length, ids, types, mask);
    }

    // ---- ids ↔ text ----

    /// <summary>Ids of tokens; a token not in the vocabulary gives the <c>[UNK]</c> id.</summary>
    public int[] ConvertTokensToIds(IEnumerable<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return [.. tokens.Select(t => Vocabulary.TryGetId(t) ?? UnkId)];
    }

    /// <summary>Tokens of ids.</summary>
    public string[] ConvertIdsToTokens(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return [.. ids.Select(id => Vocabulary[id])];
    }

    /// <summary>
    /// Turns ids back into text as HF's <c>decode</c>: tokens joined by spaces, <c>##</c> pieces glued to
    /// the previous one, then (by default) <c>clean_up_tokenization_spaces</c> (" ." → "." and the like).
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false, bool cleanUpTokenizationSpaces = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        bool first = true;
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _specialIds.Contains(id)) continue;
            var token = Vocabulary[id];
            if (!first && token.StartsWith(Vocabulary.ContinuationPrefix, StringComparison.Ordinal))
            {
                sb.Append(token, Vocabulary.ContinuationPrefix.Length, token.Length - Vocabulary.ContinuationPrefix.Length);
            }
            else
            {
                if (!first) sb.Append(' ');
                sb.Append(token);
            }
            first = false;
        }
        if (cleanUpTokenizationSpaces)
        {
            sb.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
                .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");
        }
        return sb.ToString();
    }

    // ---- truncation and special tokens (HF's truncate_encodings and TemplateProcessing) ----

    private TokenEncoding Build(TokenBuffer a, TokenBuffer? b, EncodeOptions options)
    {
        int added = options.AddSpecialTokens ? (b is null ? 2 : 3) : 0;
        int la = a.Count, lb = b?.Count ?? 0;
        List<(int Start, int Stop)> windowsA = [(0, la)], windowsB = [(0, lb)];
        if (options.Truncation != TruncationStrategy.DoNotTruncate)
        {
            int maxLength = options.MaxLength ?? Options.MaxLength;
            if (maxLength < added)
                throw new ArgumentException($"max_length {maxLength} is too small for the {added} special tokens of a {(b is null ? "single text" : "pair")}", nameof(options));
            int max = maxLength - added;
            if (la + lb > max)
            {
                int toRemove = la + lb - max;
                switch (options.Truncation)
                {
                    case TruncationStrategy.LongestFirst when b is not null:
                        {
                            // n1 is the shorter side's length; the longer side gets what is left (HF's longest_first).
                            bool swap = la > lb;
                            int n1 = Math.Min(la, lb);
                            int n2 = n1 > max ? n1 : Math.Max(n1, max - n1);
                            if (n1 + n2 > max)
                            {
                                n1 = max / 2;
                                n2 = n1 + max % 2;
                            }
                            if (swap) (n1, n2) = (n2, n1);
                            windowsA = Windows(la, n1, options.Stride);
                            windowsB = Windows(lb, n2, options.Stride);
                            break;
                        }
                    case TruncationStrategy.LongestFirst:
                        windowsA = Windows(la, la - toRemove, options.Stride);
                        break;
                    case TruncationStrategy.OnlyFirst:
                        if (la <= toRemove)
                            throw new ArgumentException($"only_first truncation cannot fit max_length {maxLength}: the first sequence has {la} tokens and {toRemove} must go", nameof(options));
                        windowsA = Windows(la, la - toRemove, options.Stride);
                        break;
                    case TruncationStrategy.OnlySecond:
                        if (b is null) throw new ArgumentException("only_second truncation needs a pair", nameof(options));
                        if (lb <= toRemove)
                            throw new ArgumentException($"only_second truncation cannot fit max_length {maxLength}: the second sequence has {lb} tokens and {toRemove} must go", nameof(options));
                        windowsB = Windows(lb, lb - toRemove, options.Stride);
                        break;
                }
            }
        }

        var main = Assemble(a, windowsA[0], b, windowsB[0], options.AddSpecialTokens);
        if (options.ReturnOverflowing && (windowsA.Count > 1 || windowsB.Count > 1))
        {
            // HF's merge order: each overflow of A with B, then with each overflow of B; then A with each overflow of B.
            var overflowing = new List<TokenEncoding>();
            for (int i = 1; i < windowsA.Count; i++)
            {
                overflowing.Add(Assemble(a, windowsA[i], b, windowsB[0], options.AddSpecialTokens));
                for (int j = 1; j < windowsB.Count; j++) overflowing.Add(Assemble(a, windowsA[i], b, windowsB[j], options.AddSpecialTokens));
            }
            for (int j = 1; j < windowsB.Count; j++) overflowing.Add(Assemble(a, windowsA[0], b, windowsB[j], options.AddSpecialTokens));
            main.Overflowing = overflowing;
        }
        return main;
    }

    /// <summary>HF's <c>TokenEncoding::truncate</c> windows: the kept part first, then the overflow windows.</summary>
    private static List<(int Start, int Stop)> Windows(int length, int maxLength, int stride)
    {
        if (maxLength >= length) return [(0, length)];
        if (maxLength == 0) return [(0, 0), (0, length)];
        if (stride < 0 || stride >= maxLength)
            throw new ArgumentException($"stride {stride} must be at least 0 and smaller than the {maxLength} tokens left for the sequence");
        var windows = new List<(int, int)>();
        for (int start = 0; start < length; start += maxLength - stride)
        {
            int stop = Math.Min(start + maxLength, length);
            windows.Add((start, stop));
            if (stop == length) break;
        }
        return windows;
    }

    private TokenEncoding Assemble(TokenBuffer a, (int Start, int Stop) ra, TokenBuffer? b, (int Start, int Stop) rb, bool special)
    {
        int na = ra.Stop - ra.Start, nb = b is null ? 0 : rb.Stop - rb.Start;
        int n = na + nb + (special ? (b is null ? 2 : 3) : 0);
        var ids = new int[n];
        var offsets = new (int, int)[n];
        var words = new int[n];
        int k = 0;
        if (special) { ids[k] = ClsId; words[k] = -1; k++; }
        Copy(a, ra);
        if (special) { ids[k] = SepId; words[k] = -1; k++; }
        if (b is not null)
        {
            Copy(b, rb);
            if (special) { ids[k] = SepId; words[k] = -1; }
        }
        return new TokenEncoding(Vocabulary.Tokens, ids, offsets, words, special, na, b is null ? -1 : nb);

        void Copy(TokenBuffer t, (int Start, int Stop) r)
        {
            int count = r.Stop - r.Start;
            t.Ids.AsSpan(r.Start, count).CopyTo(ids.AsSpan(k));
            t.Words.AsSpan(r.Start, count).CopyTo(words.AsSpan(k));
            for (int i = r.Start; i < r.Stop; i++, k++) offsets[k] = (t.Starts[i], t.Ends[i]);
        }
    }
}
