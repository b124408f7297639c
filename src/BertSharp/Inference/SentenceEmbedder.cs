using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using Microsoft.Extensions.AI;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace BertSharp.Inference;

/// <summary>
/// Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: the encoder's
/// last hidden state averaged over the real tokens (or the [CLS] state), then L2-normalised, so the
/// dot product of two embeddings is their cosine similarity.
/// </summary>
/// <remarks>
/// Safe to call from several threads at once (the encoder pools its workspaces). As an
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> it gives the mean-pooled, normalised vectors that
/// <c>bertsharp embed</c> prints, so Semantic Kernel and vector-store code can embed offline with it.
/// </remarks>
public sealed class SentenceEmbedder : IEmbeddingGenerator<string, Embedding<float>>
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

    /// <summary>Loads a built-in model, an HF directory or a hub model (see <see cref="PretrainedModel.Load"/>).</summary>
    /// <param name="nameOrDirectory">minilm-l6, arctic-xs, a directory with config.json, vocab.txt and weights, or a hub id.</param>
    /// <param name="maxLength">Longest input in tokens, [CLS] and [SEP] included; texts are truncated to it (default: the model's limit, at most max_position_embeddings).</param>
    /// <param name="hub">Cache, revision and offline mode for a hub id; the environment's defaults when null.</param>
    public static SentenceEmbedder Load(string nameOrDirectory, int? maxLength = null, HubOptions? hub = null) =>
        FromPretrained(PretrainedModel.Load(nameOrDirectory, hub), maxLength);

    /// <summary>
    /// <see cref="Load"/> without blocking the caller: a hub model not yet cached downloads asynchronously, cancellably
    /// (see <see cref="PretrainedModel.LoadAsync"/>).
    /// </summary>
    /// <param name="nameOrDirectory">minilm-l6, arctic-xs, a model directory, or a hub id.</param>
    /// <param name="maxLength">Longest input in tokens (default: the model's limit).</param>
    /// <param name="hub">Cache, revision, offline mode, progress and logging for a hub id.</param>
    /// <param name="cancellation">Stops the download or the load.</param>
    public static async Task<SentenceEmbedder> LoadAsync(string nameOrDirectory, int? maxLength = null, HubOptions? hub = null,
        CancellationToken cancellation = default) =>
        FromPretrained(await PretrainedModel.LoadAsync(nameOrDirectory, hub, cancellation).ConfigureAwait(false), maxLength);

    private static SentenceEmbedder FromPretrained(PretrainedModel pretrained, int? maxLength)
    {
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
    public float[][] Embed(IReadOnlyList<string> texts, Pooling pooling = Pooling.Mean, bool normalize = true) =>
        Embed(texts, pooling, normalize, CancellationToken.None).Embeddings;

    // Also counts the tokens read, which IEmbeddingGenerator reports as usage; cancellation is seen between batches.
    private (float[][] Embeddings, long Tokens) Embed(IReadOnlyList<string> texts, Pooling pooling, bool normalize, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var ids = new int[texts.Count][];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = Tokenize(texts[i] ?? throw new ArgumentNullException(nameof(texts), $"text {i} is null"));
        var order = Enumerable.Range(0, ids.Length).OrderBy(i => ids[i].Length).ToArray();
        var result = new float[ids.Length][];
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            var rows = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            var input = Pad(rows.Select(i => ids[i]).ToArray());
            var pooled = Embed(input, pooling, normalize);
            for (int r = 0; r < rows.Length; r++) result[rows[r]] = pooled.Data.AsSpan(r * Dimension, Dimension).ToArray();
        }
        return (result, ids.Sum(i => (long)i.Length));
    }

    /// <summary>
    /// Mean-pooled, L2-normalised embeddings of <paramref name="values"/>, in order (what <c>bertsharp embed</c> prints),
    /// computed on the thread pool; the usage counts the WordPiece tokens read, [CLS] and [SEP] included.
    /// </summary>
    /// <param name="values">The texts.</param>
    /// <param name="options">
    /// <see cref="EmbeddingGenerationOptions.Dimensions"/> and <see cref="EmbeddingGenerationOptions.ModelId"/> may be
    /// left unset or name this model's; anything else is refused, since no other length or model can be given.
    /// </param>
    /// <param name="cancellationToken">Seen between batches of 32 texts.</param>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is int d && d != Dimension)
            throw new ArgumentException($"Dimensions = {d}: {Source} gives embeddings of {Dimension} dimensions only", nameof(options));
        if (options?.ModelId is { } id && id != Source)
            throw new ArgumentException($"ModelId = '{id}': this generator runs {Source} only", nameof(options));
        var texts = values.ToList();
        var (embeddings, tokens) = await Task.Run(() => Embed(texts, Pooling.Mean, normalize: true, cancellationToken), cancellationToken).ConfigureAwait(false);
        var created = DateTimeOffset.UtcNow;
        return new GeneratedEmbeddings<Embedding<float>>(embeddings.Select(e => new Embedding<float>(e) { ModelId = Source, CreatedAt = created }))
        {
            Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
        };
    }

    /// <summary>
    /// This embedder for its own type or an interface it implements, and an <see cref="EmbeddingGeneratorMetadata"/>
    /// (provider "bertsharp", the model's name, its dimension); null for anything else.
    /// </summary>
    /// <param name="serviceType">The type asked for.</param>
    /// <param name="serviceKey">Must be null: the embedder keys no services.</param>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return new EmbeddingGeneratorMetadata("bertsharp", null, Source, Dimension);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Nothing to release (the encoder is managed memory); the generator interface asks for it.</summary>
    public void Dispose()
    {
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
