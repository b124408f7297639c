using System.Numerics.Tensors;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;

namespace BertSharp.Inference;

/// <summary>
/// What every inference pipeline shares (Hugging Face's <c>Pipeline</c>): a model directory loaded with its
/// tokenizer, one runtime (the managed model or ONNX Runtime on its export), batching by length and the encoder's
/// sentence embeddings. A task's pipeline adds its pre- and post-processing. Safe to call from several threads.
/// </summary>
public abstract class Pipeline : IDisposable
{
    private readonly IModelRuntime _runtime;

    private protected Pipeline(PretrainedModel pretrained, IModelRuntime runtime)
    {
        ArgumentNullException.ThrowIfNull(pretrained);
        _runtime = runtime;
        Config = runtime is ManagedRuntime m ? m.Model.Config : pretrained.Config;
        long parameters = 0;
        foreach (var (_, t) in pretrained.Weights) parameters += t.Length;
        ParameterCount = parameters;
        using (var vocab = pretrained.OpenVocab())
            Tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        MaxLength = Math.Min(pretrained.ModelMaxLength, Config.MaxPositionEmbeddings);
        Source = pretrained.Source;
    }

    /// <summary>The tokenizer the model was trained with.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>The engine that runs the forward pass.</summary>
    public InferenceRuntime Runtime => _runtime.Kind;

    /// <summary>The model's config.json (sizes, labels, the head's options).</summary>
    public BertConfig Config { get; }

    /// <summary>Weights in the checkpoint: encoder and head.</summary>
    public long ParameterCount { get; }

    /// <summary>Tokens per window, from tokenizer_config.json's model_max_length (at most the position table).</summary>
    public int MaxLength { get; }

    /// <summary>The directory (or name) the model was loaded from.</summary>
    public string Source { get; }

    /// <summary>The managed model; only with <see cref="InferenceRuntime.Managed"/>.</summary>
    /// <exception cref="NotSupportedException">The pipeline runs on ONNX Runtime.</exception>
    public BertPreTrainedModel Model => (_runtime as ManagedRuntime)?.Model
        ?? throw new NotSupportedException($"{Source}: loaded with the onnx runtime, which runs the exported graph only; load with the managed runtime for the model's internals");

    /// <summary>
    /// What runs the managed model's matrix products (<see cref="BertModel.Provider"/>); always
    /// <see cref="ComputeProvider.Managed"/> on ONNX Runtime, where setting another is an error.
    /// </summary>
    public ComputeProvider Provider
    {
        get => (_runtime as ManagedRuntime)?.Model.Provider ?? ComputeProvider.Managed;
        set
        {
            if (_runtime is ManagedRuntime m) m.Model.Provider = value;
            else if (value != ComputeProvider.Managed)
                throw new InvalidOperationException($"{Source}: the {value} provider runs the managed model; this pipeline runs on ONNX Runtime");
        }
    }

    /// <summary>
    /// Runs the model's forward pass once on a two-word input, so that the first real request does not pay for what a
    /// first pass sets up (the JIT, packed weights, ONNX Runtime's first run). Either runtime; a server calls it before
    /// it reports ready.
    /// </summary>
    public void WarmUp()
    {
        foreach (var (input, _) in Batches([Encode("warm up")], 1)) _runtime.Run(input);
    }

    /// <summary>Tokenizes one text (or pair) the way the model reads it: truncated to <see cref="MaxLength"/>.</summary>
    public TokenEncoding Encode(string text, string? pair = null) => Tokenizer.Encode(text, pair, new EncodeOptions { MaxLength = MaxLength });

    /// <summary>
    /// Sentence embeddings [texts × hidden]: the encoder's last hidden state averaged over each text's
    /// tokens ([CLS] and [SEP] included, padding not), then scaled to unit length, as sentence-transformers'
    /// mean pooling with normalisation does. Managed runtime only.
    /// </summary>
    /// <exception cref="NotSupportedException">The pipeline runs on ONNX Runtime, whose graph outputs the head only.</exception>
    public float[] Embed(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        return Embed(Tokenizer.EncodeBatch(texts, pairs, new EncodeOptions { MaxLength = MaxLength }, PaddingStrategy.DoNotPad), batchSize);
    }

    /// <summary><see cref="Embed(IReadOnlyList{string}, IReadOnlyList{string}, int)"/> of texts already tokenized (see <see cref="Encode"/>).</summary>
    public float[] Embed(IReadOnlyList<TokenEncoding> encodings, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var bert = Model.Bert;
        int C = Config.HiddenSize;
        var result = new float[encodings.Count * C];
        foreach (var (input, rows) in Batches(encodings, batchSize))
        {
            var hidden = bert.Forward(input).LastHiddenState.Data;
            for (int r = 0; r < rows.Length; r++)
            {
                var e = encodings[rows[r]];
                var row = result.AsSpan(rows[r] * C, C);
                // The text's tokens are the row's first e.Length positions; the mean's 1/n cancels in the normalisation.
                for (int t = 0; t < e.Length; t++) TensorPrimitives.Add(row, hidden.AsSpan((r * input.SequenceLength + t) * C, C), row);
                float norm = TensorPrimitives.Norm(row);
                if (norm > 0) TensorPrimitives.Divide(row, norm, row);
            }
        }
        return result;
    }

    /// <summary>The engine that runs the model, for code that batches on its own (evaluation).</summary>
    internal IModelRuntime Engine => _runtime;

    /// <summary>
    /// Loads a fine-tuned model directory as the pipeline of its task (its config's <c>architectures</c>): a
    /// <see cref="TextClassifier"/> for a sequence classifier.
    /// </summary>
    /// <param name="directory">The model directory; <see cref="InferenceRuntime.Onnx"/> also needs its <c>model.onnx</c>.</param>
    /// <param name="runtime">The engine for the forward pass.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (0: one per core); the managed encoder uses every core.</param>
    public static Pipeline Load(string directory, InferenceRuntime runtime = InferenceRuntime.Managed, int threads = 0)
    {
        var (pretrained, engine) = Open(directory, runtime, threads);
        try
        {
            return TaskModels.ArchitectureOf(pretrained.Config, pretrained.Weights) switch
            {
                nameof(BertForSequenceClassification) => new TextClassifier(pretrained, engine),
                nameof(BertForTokenClassification) => new TokenClassificationPipeline(pretrained, engine),
                nameof(BertForQuestionAnswering) => new QuestionAnswering.QuestionAnsweringPipeline(pretrained, engine),
                nameof(BertForMaskedLM) or nameof(BertForPreTraining) => new FillMaskPipeline(pretrained, engine),
                var other => throw new NotSupportedException($"{directory}: BertSharp has no pipeline for a {other}"),
            };
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>Releases the ONNX Runtime session, when there is one.</summary>
    public void Dispose()
    {
        _runtime.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The head's output for a padded batch, on whichever runtime the pipeline has.</summary>
    private protected float[] Run(BertInput input) => _runtime.Run(input);

    /// <summary>
    /// The encodings in batches of at most <paramref name="batchSize"/>, in length order so little is padded: each
    /// batch padded to its longest, with the indices (into <paramref name="encodings"/>) of its rows.
    /// </summary>
    private protected IEnumerable<(BertInput Input, int[] Rows)> Batches(IReadOnlyList<TokenEncoding> encodings, int batchSize)
    {
        var order = Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length).ToArray();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var rows = order.AsSpan(start, Math.Min(batchSize, order.Length - start)).ToArray();
            var ids = new int[rows.Length][];
            var types = new int[rows.Length][];
            for (int r = 0; r < rows.Length; r++)
            {
                ids[r] = encodings[rows[r]].Ids;
                types[r] = encodings[rows[r]].TypeIds;
            }
            yield return (DynamicPadding.Pad(ids, types, Tokenizer.PadId), rows);
        }
    }

    /// <summary>
    /// Loads a model directory for a pipeline: the checkpoint, and the runtime that runs it — the managed task
    /// model its config names, or ONNX Runtime on the directory's <c>model.onnx</c>.
    /// </summary>
    private protected static (PretrainedModel Pretrained, IModelRuntime Runtime) Open(string directory, InferenceRuntime runtime, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        var pretrained = PretrainedModel.Load(directory);
        if (!TaskModels.HasHead(pretrained.Config, pretrained.Weights))
            throw new InvalidDataException($"{directory}: config.json names no task head BertSharp runs (architectures: " +
                $"{string.Join(", ", pretrained.Config.Architectures ?? ["none"])}); it is a base encoder, not a fine-tuned model (train one with 'bertsharp train')");
        return runtime switch
        {
            InferenceRuntime.Managed => (pretrained, new ManagedRuntime(TaskModels.Load(pretrained.Config, pretrained.Weights)!)),
            InferenceRuntime.Onnx => (pretrained, AddOnPackages.Onnx.Open(directory, threads == 0 ? Environment.ProcessorCount : threads)),
            _ => throw new ArgumentOutOfRangeException(nameof(runtime), runtime, "unknown runtime"),
        };
    }
}
