using System.Globalization;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Text;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Inference;

/// <summary>
/// Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: the encoder's
/// last hidden state averaged over the real tokens (or the [CLS] state), then L2-normalised, so the
/// dot product of two embeddings is their cosine similarity.
/// </summary>
/// <remarks>Safe to call from several threads at once (the encoder pools its workspaces).</remarks>
public sealed class SentenceEmbedder
{
    /// <summary>How token states become one vector.</summary>
    public enum Pooling
    {
        /// <summary>The mean over tokens whose attention mask is 1 (sentence-transformers' default).</summary>
        Mean,

        /// <summary>The final hidden state of the first token, [CLS].</summary>
        Cls,
    }

    private const int BatchSize = 32;
    private const string Accented = "àáâãäåçèéêëìíîïñòóôõöùúûüýÿ";
    private const string Unaccented = "aaaaaaceeeeiiiinooooouuuuyy";

    private readonly Dictionary<string, int> _vocab;
    private readonly bool _lowerCase;
    private readonly int _cls, _sep, _unk, _pad;

    private SentenceEmbedder(BertModel model, Dictionary<string, int> vocab, bool lowerCase, int maxLength, string source)
    {
        Model = model;
        _vocab = vocab;
        _lowerCase = lowerCase;
        MaxLength = maxLength;
        Source = source;
        int Id(string token) => vocab.TryGetValue(token, out var id) ? id
            : throw new InvalidDataException($"{source}: vocab.txt has no {token} token");
        (_cls, _sep, _unk) = (Id("[CLS]"), Id("[SEP]"), Id("[UNK]"));
        _pad = vocab.GetValueOrDefault("[PAD]", 0);
    }

    /// <summary>Loads a built-in model by name or an HF directory (see <see cref="PretrainedModel.Load"/>).</summary>
    /// <param name="nameOrDirectory">minilm-l6, arctic-xs, or a directory with config.json, vocab.txt and weights.</param>
    /// <param name="maxLength">Longest input in tokens, [CLS] and [SEP] included; texts are truncated to it (default: the model's limit, at most max_position_embeddings).</param>
    public static SentenceEmbedder Load(string nameOrDirectory, int? maxLength = null)
    {
        var pretrained = PretrainedModel.Load(nameOrDirectory);
        int limit = Math.Min(pretrained.ModelMaxLength, pretrained.Config.MaxPositionEmbeddings);
        if (maxLength is int m && (m < 2 || m > limit))
            throw new ArgumentOutOfRangeException(nameof(maxLength), m, $"must be in [2, {limit}] for {pretrained.Source}");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var reader = new StreamReader(pretrained.OpenVocab()))
        {
            int i = 0;
            for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine(), i++) vocab.TryAdd(line, i);
        }
        return new SentenceEmbedder(new BertModel(pretrained.Config, pretrained.Weights), vocab, pretrained.DoLowerCase,
            maxLength ?? limit, pretrained.Source);
    }

    /// <summary>The encoder.</summary>
    public BertModel Model { get; }

    /// <summary>The model's name or directory.</summary>
    public string Source { get; }

    /// <summary>Texts longer than this many tokens are truncated.</summary>
    public int MaxLength { get; }

    /// <summary>Length of one embedding (the hidden size).</summary>
    public int Dimension => Model.Config.HiddenSize;

    /// <summary>One embedding per text, in order. Texts are batched by length so little padding is computed.</summary>
    public float[][] Embed(IReadOnlyList<string> texts, Pooling pooling = Pooling.Mean, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var ids = new int[texts.Count][];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = Tokenize(texts[i] ?? throw new ArgumentNullException(nameof(texts), $"text {i} is null"));
        var order = Enumerable.Range(0, ids.Length).OrderBy(i => ids[i].Length).ToArray();
        var result = new float[ids.Length][];
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            var rows = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            var input = Pad(rows.Select(i => ids[i]).ToArray());
            var pooled = Embed(input, pooling, normalize);
            for (int r = 0; r < rows.Length; r++) result[rows[r]] = pooled.Data.AsSpan(r * Dimension, Dimension).ToArray();
        }
        return result;
    }

    /// <summary>One embedding of one text.</summary>
    public float[] Embed(string text, Pooling pooling = Pooling.Mean, bool normalize = true) => Embed([text], pooling, normalize)[0];

    /// <summary>Embeddings [batch, hidden] of an encoded batch: pooled over the tokens whose attention mask is 1.</summary>
    public Tensor Embed(BertInput input, Pooling pooling = Pooling.Mean, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(input);
        var hidden = Model.Forward(input).LastHiddenState.Data;
        int B = input.BatchSize, T = input.SequenceLength, C = Dimension;
        var output = new Tensor([B, C]);
        for (int b = 0; b < B; b++)
        {
            var e = output.Data.AsSpan(b * C, C);
            if (pooling == Pooling.Cls)
            {
                hidden.AsSpan(b * T * C, C).CopyTo(e);
            }
            else
            {
                int count = 0;
                for (int t = 0; t < T; t++)
                {
                    if (input.AttentionMask[b * T + t] == 0) continue;
                    TensorPrimitives.Add(e, hidden.AsSpan((b * T + t) * C, C), e);
                    count++;
                }
                // sentence-transformers divides by max(count, 1e-9).
                TensorPrimitives.Multiply(e, 1f / Math.Max(count, 1e-9f), e);
            }
            if (normalize)
            {
                float norm = TensorPrimitives.Norm(e);
                TensorPrimitives.Multiply(e, 1f / Math.Max(norm, 1e-12f), e);
            }
        }
        return output;
    }

    /// <summary>Cosine similarity of two texts' mean-pooled embeddings.</summary>
    public float Similarity(string a, string b)
    {
        var e = Embed([a, b], Pooling.Mean, normalize: true);
        return TensorPrimitives.CosineSimilarity(e[0], e[1]);
    }

    private BertInput Pad(int[][] sequences)
    {
        int b = sequences.Length, t = sequences.Max(s => s.Length);
        var input = new BertInput(b, t, new int[b * t], new int[b * t], new int[b * t]);
        for (int i = 0; i < b; i++)
        {
            input.InputIds.AsSpan(i * t, t).Fill(_pad);
            sequences[i].CopyTo(input.InputIds, i * t);
            input.AttentionMask.AsSpan(i * t, sequences[i].Length).Fill(1);
        }
        return input;
    }

    // [CLS] wordpieces [SEP], truncated to MaxLength. BERT's basic tokenization for the common case
    // (lower-casing, accents stripped, punctuation split off, whitespace) then greedy longest-match
    // WordPiece; the full BertTokenizer (CJK, control characters) replaces it when it is merged.
    internal int[] Tokenize(string text)
    {
        var ids = new List<int> { _cls };
        foreach (var word in Words(text))
        {
            ids.AddRange(WordPiece(word));
            if (ids.Count >= MaxLength - 1) break;
        }
        if (ids.Count > MaxLength - 1) ids.RemoveRange(MaxLength - 1, ids.Count - (MaxLength - 1));
        ids.Add(_sep);
        return [.. ids];
    }

    private IEnumerable<string> Words(string text)
    {
        if (_lowerCase)
        {
            // BERT's uncased tokenizers lower-case and strip accents (NFD, then drop combining marks).
            // With invariant globalization .NET does not decompose, so Latin-1's accented letters are
            // folded from a table and combining marks dropped.
            var sb = new StringBuilder(text.Length);
            foreach (char ch in text.ToLowerInvariant())
            {
                int k = Accented.IndexOf(ch);
                if (k >= 0) sb.Append(Unaccented[k]);
                else if (CharUnicodeInfo.GetUnicodeCategory(ch) != UnicodeCategory.NonSpacingMark) sb.Append(ch);
            }
            text = sb.ToString();
        }
        int start = -1;
        for (int i = 0; i <= text.Length; i++)
        {
            bool end = i == text.Length;
            char ch = end ? ' ' : text[i];
            bool space = char.IsWhiteSpace(ch) || char.IsControl(ch), punct = !end && IsPunctuation(ch);
            if (space || punct)
            {
                if (start >= 0) yield return text[start..i];
                start = -1;
                if (punct) yield return ch.ToString();
            }
            else if (start < 0)
            {
                start = i;
            }
        }
    }

    // BERT counts every non-alphanumeric ASCII symbol as punctuation, plus Unicode's P* categories.
    private static bool IsPunctuation(char ch) =>
        ch is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~' || char.IsPunctuation(ch);

    private List<int> WordPiece(string word)
    {
        if (word.Length > 100) return [_unk];
        var pieces = new List<int>();
        for (int start = 0; start < word.Length;)
        {
            int end = word.Length, id = _unk;
            for (; end > start; end--)
                if (_vocab.TryGetValue(start == 0 ? word[start..end] : "##" + word[start..end], out id)) break;
            if (end == start) return [_unk];
            pieces.Add(id);
            start = end;
        }
        return pieces;
    }
}
