using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

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

    private readonly EncodeOptions _encode;

    private SentenceEmbedder(BertModel model, BertTokenizer tokenizer, int maxLength, string source)
    {
        Model = model;
        Tokenizer = tokenizer;
        MaxLength = maxLength;
        Source = source;
        _encode = new EncodeOptions { MaxLength = maxLength };
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
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        return new SentenceEmbedder(new BertModel(pretrained.Config, pretrained.Weights), tokenizer, maxLength ?? limit, pretrained.Source);
    }

    /// <summary>The model's WordPiece tokenizer.</summary>
    public BertTokenizer Tokenizer { get; }

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
    public FloatTensor Embed(BertInput input, Pooling pooling = Pooling.Mean, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(input);
        var hidden = Model.Forward(input).LastHiddenState.Data;
        int B = input.BatchSize, T = input.SequenceLength, C = Dimension;
        var output = new FloatTensor([B, C]);
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

    private BertInput Pad(int[][] sequences) => DynamicPadding.Pad(sequences, null, Tokenizer.PadId);

    /// <summary>[CLS] wordpieces [SEP], truncated to <see cref="MaxLength"/>.</summary>
    internal int[] Tokenize(string text) => Tokenizer.Encode(text, null, _encode).Ids;
}
