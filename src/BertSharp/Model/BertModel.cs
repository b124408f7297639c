using System.Collections.Concurrent;
using BertSharp.Distributed;
using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// The BERT encoder (Hugging Face's <c>BertModel</c>): embeddings, <see cref="BertConfig.NumHiddenLayers"/>
/// transformer layers and an optional pooler, with Hugging Face's weight names
/// (<c>embeddings.word_embeddings.weight</c>, <c>encoder.layer.0.attention.self.query.weight</c>, …).
/// </summary>
/// <remarks>
/// <see cref="Forward(BertInput, bool, bool)"/> is safe to call from several threads at once: each call takes its own
/// workspace from a pool, and warm workspaces are reused without allocating activations. On a CPU busy with other
/// work a pass of several sequences takes a workspace per thread besides (see SequenceChunks), so the pool may hold
/// that many more.
/// Task heads reach the internal forward/backward pair, whose backward takes the gradient of the last
/// hidden state (and optionally of the pooled output), so token classification, span QA or a masked-LM
/// head fit on top without changing the encoder.
/// </remarks>
public sealed class BertModel
{
    private readonly BertEmbeddings _embeddings;
    private readonly BertEncoder _encoder;
    private readonly BertPooler? _pooler;
    private readonly ConcurrentBag<BertWorkspace> _workspaces = [];
    private readonly WeightState _state;

    /// <summary>
    /// Loads the encoder from weights with bare names (<c>embeddings.…</c>, as Hugging Face's <c>BertModel</c>
    /// saves them), or with the <c>bert.</c> prefix that its task models use; the pooler is loaded when
    /// <c>pooler.dense.*</c> is present.
    /// </summary>
    /// <remarks>The tensors are copied: the model never shares arrays with <paramref name="weights"/>.</remarks>
    /// <exception cref="InvalidDataException">A weight is missing or its shape does not match the config.</exception>
    public BertModel(BertConfig config, StateDict weights)
        : this(config, WeightBuilder.Create((weights ?? throw new ArgumentNullException(nameof(weights))).WithCheckpointNames(), 0,
            config?.InitializerRange ?? 0).Push(Root), addPooler: null)
    {
    }

    // The module path of the encoder: its parameters are named as in a task model's checkpoint (bert.…).
    internal const string Root = "bert";

    // wb is rooted at the encoder's path (bert.). addPooler: true creates the pooler, initialising it when the
    // source lacks it; null creates it only when the source has it.
    internal BertModel(BertConfig config, WeightBuilder wb, bool? addPooler)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("config");
        Config = config;
        _state = wb.State;
        int first = wb.Created.Count;
        _embeddings = new BertEmbeddings(wb.Push("embeddings"), config);
        _encoder = new BertEncoder(wb.Push("encoder"), config);
        if (addPooler ?? wb.Has("pooler.dense.weight"))
        {
            var poolerWb = wb.Push("pooler");
            _pooler = new BertPooler(addPooler == true ? poolerWb.InitMissing() : poolerWb, config);
        }
        if (wb.IsRandom) _embeddings.ZeroPaddingRow();
        Parameters = wb.Created.GetRange(first, wb.Created.Count - first).ToArray();
        long count = 0;
        foreach (var p in Parameters) count += p.Value.Length;
        ParameterCount = count;
    }

    /// <summary>A randomly initialised encoder with a pooler, as Hugging Face initialises one.</summary>
    public static BertModel CreateRandom(BertConfig config, int seed) => CreateRandom(config, seed, addPoolingLayer: true);

    /// <summary>
    /// A randomly initialised encoder: weights normal(0, initializer_range), LayerNorm γ 1 and β 0,
    /// biases 0, the padding token's embedding row 0.
    /// </summary>
    public static BertModel CreateRandom(BertConfig config, int seed, bool addPoolingLayer) =>
        new(config, WeightBuilder.Create(null, seed, config?.InitializerRange ?? 0).Push(Root), addPoolingLayer);

    /// <summary>The parameter count a config implies, without building the model.</summary>
    public static long CountParameters(BertConfig config, bool withPooler)
    {
        ArgumentNullException.ThrowIfNull(config);
        var size = IO.ModelSize.FromConfig(config with { Id2Label = null });
        return withPooler ? size.Total : size.Total - size.Pooler;
    }

    /// <summary>The shape this model was built with.</summary>
    public BertConfig Config { get; }

    /// <summary>
    /// What runs the model's matrix products: <see cref="ComputeProvider.Managed"/> fp32 (the default) or
    /// <see cref="ComputeProvider.OneDnnBf16"/> (bf16 operands, fp32 accumulation and master weights).
    /// A task model's head follows its encoder.
    /// </summary>
    /// <exception cref="InvalidOperationException">The provider cannot run on this machine (see <see cref="ComputeProviders.IsAvailable"/>).</exception>
    public ComputeProvider Provider
    {
        get => _state.MatMul.Provider;
        set => _state.MatMul = MatMul.For(value);
    }

    /// <summary>Whether the model has the pooler (<c>pooler.dense</c>), so <see cref="BertOutput.PoolerOutput"/> is set.</summary>
    public bool HasPooler => _pooler is not null;

    /// <summary>Number of weights (embeddings, encoder and the pooler when present).</summary>
    public long ParameterCount { get; }

    internal IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Tells the model that its weights may change from now on (an optimizer, a checkpoint loaded into
    /// <see cref="Parameter.Value"/>): packed copies are dropped and never made again. A training
    /// forward pass and <see cref="ToStateDict"/> call it themselves.
    /// </summary>
    internal void MarkWeightsMutable() => _state.MarkMutable();

    /// <summary>Runs the encoder in inference mode (no dropout).</summary>
    /// <param name="input">A padded batch; positions where attention_mask is 0 do not affect the others.</param>
    /// <param name="outputHiddenStates">Also return the embedding output and every layer's output.</param>
    /// <param name="outputAttentions">Also return every layer's attention probabilities.</param>
    /// <exception cref="ArgumentException">Array sizes do not match, an id is out of range, or the sequence is too long.</exception>
    public BertOutput Forward(BertInput input, bool outputHiddenStates = false, bool outputAttentions = false)
    {
        var ws = RentWorkspace();
        try
        {
            var hiddenStates = outputHiddenStates ? new List<FloatTensor>(Config.NumHiddenLayers + 1) : null;
            var attentions = outputAttentions ? new List<FloatTensor>(Config.NumHiddenLayers) : null;
            Forward(input, ws, dropout: null, hiddenStates, attentions);
            int B = input.BatchSize, T = input.SequenceLength, C = Config.HiddenSize;
            return new BertOutput
            {
                LastHiddenState = TensorCopy.Of(ws.LastHidden, B, T, C),
                PoolerOutput = _pooler is null ? null : TensorCopy.Of(ws.Pooled, B, C),
                HiddenStates = hiddenStates,
                Attentions = attentions,
            };
        }
        finally
        {
            ReturnWorkspace(ws);
        }
    }

    /// <summary>
    /// The weights under the bare names Hugging Face's <c>BertModel</c> saves (<c>embeddings.…</c>, without the
    /// <c>bert.</c> that a task model's checkpoint puts before them); the tensors are the model's own (not copies).
    /// </summary>
    /// <remarks>The caller may now change them, so from here on inference reads them afresh on every call.</remarks>
    public StateDict ToStateDict()
    {
        MarkWeightsMutable();
        var state = new StateDict { Source = "BertModel" };
        foreach (var p in Parameters) state[p.Name[StateDict.EncoderPrefix.Length..]] = p.Value;
        return state;
    }

    /// <summary>The word-embedding matrix (vocab, hidden): the masked-LM decoder ties its weight to it.</summary>
    internal Parameter WordEmbeddings => _embeddings.Word;

    /// <summary>
    /// The parameters whose values are each block's output (the embeddings' LayerNorm, then every layer's
    /// output LayerNorm), in order: what locates the hidden states in a graph exported from this module tree.
    /// </summary>
    internal IEnumerable<string> BlockOutputNormNames()
    {
        yield return _embeddings.Norm.Bias.Name;
        foreach (var layer in _encoder.Layers) yield return layer.Output.Norm.Bias.Name;
    }

    /// <summary>An inference workspace from the pool (one layer cache shared by all layers); give it back with <see cref="ReturnWorkspace"/>.</summary>
    internal BertWorkspace RentWorkspace() => _workspaces.TryTake(out var ws) ? ws : new BertWorkspace(Config.NumHiddenLayers, training: false);

    /// <summary>A workspace that keeps every layer's activations, for a head's training forward and backward.</summary>
    internal BertWorkspace CreateTrainingWorkspace() => new(Config.NumHiddenLayers, training: true);

    internal void ReturnWorkspace(BertWorkspace ws)
    {
        ws.Input = null;
        _workspaces.Add(ws);
    }

    /// <summary>
    /// Forward pass into <paramref name="ws"/>: ws.LastHidden (B,T,C) and, with a pooler, ws.Pooled (B,C).
    /// Dropout is on when <c>dropout</c> is given (training). The lists, when given, receive copies of
    /// the embedding and layer outputs and of each layer's attention probabilities. <c>clsOnly</c>
    /// computes only the [CLS] rows of the last layer (ws.LastHidden is then (B,C)): exact for heads
    /// that read [CLS] or the pooler, it skips most of the last layer's work; not with the lists.
    /// </summary>
    internal void Forward(BertInput input, BertWorkspace ws, DropoutStream? dropout,
        List<FloatTensor>? hiddenStates = null, List<FloatTensor>? attentions = null, bool clsOnly = false)
    {
        if (clsOnly && (hiddenStates is not null || attentions is not null))
            throw new InvalidOperationException("a [CLS]-only pass cannot record every token's states");
        if (dropout is not null && !ws.Training) throw new InvalidOperationException("training needs a training workspace");
        ArgumentNullException.ThrowIfNull(input);
        input.Validate();
        _embeddings.CheckInput(input);
        ws.Input = input;
        WorkerPool.NoteStart();
        ws.ClsOnly = clsOnly && Config.NumHiddenLayers > 0;
        int B = input.BatchSize, T = input.SequenceLength;
        ws.Mask.Set(input.AttentionMask, B, T);
        if (!ws.Training && dropout is null && hiddenStates is null && attentions is null && SequenceChunks(B) is int chunks and > 1)
        {
            ForwardBySequence(input, ws, chunks);
            return;
        }
        // A training pass means an optimizer will write the weights: stop trusting packed copies.
        if (ws.Training) _state.MarkMutable();
        var mode = new PassMode(Packed: !_state.Mutable, Training: ws.Training, KeepProbs: attentions is not null);
        using (OpProfile.Time(OpProfile.Op.Embeddings))
        {
            _embeddings.Forward(input, ws.Embeddings, dropout);
        }
        hiddenStates?.Add(TensorCopy.Of(ws.Embeddings.Output, B, T, Config.HiddenSize));
        _encoder.Forward(ws.Embeddings.Output, ws.Mask, ws.Layers, B, T, dropout, mode, ws.ClsOnly, hiddenStates, attentions);
        if (_pooler is not null)
        {
            Buffers.Ensure(ref ws.Pooled, B * Config.HiddenSize);
            using (OpProfile.Time(OpProfile.Op.Pooler))
            {
                _pooler.Forward(ws.LastHidden, ws.ClsStride(Config.HiddenSize), ws.Pooled, B, mode.Packed);
            }
        }
    }

    /// <summary>
    /// Into how many parts of whole sequences an inference pass of <paramref name="batch"/> sequences splits, each
    /// running every layer on a thread of its own (1: it does not split). Only while the CPU is
    /// <see cref="WorkerPool.Contended"/>: beside busy processes a thread loses its core for a time slice now
    /// and then, and a pass that joins its threads once a layer or more often waits out every such slice of
    /// either; split by sequences it joins them once. 8 × 16 tokens beside two busy threads: two threads ran at
    /// the speed of one (165–180 samples/s, whole-layer blocks) and now at about 1.45× (257). On a quiet CPU the
    /// per-layer loops are as fast for fp32 (docs/BENCHMARKS.md). Only with a sequence for every thread: fewer
    /// parts than threads would leave threads idle that the per-layer loops use (a many-core machine beside one busy
    /// process). Not while <see cref="OpProfile"/> times each operation, whose times would add up two threads' work.
    /// </summary>
    internal int SequenceChunks(int batch) =>
        Gemm.MaxThreads >= 2 && batch >= Gemm.MaxThreads && Config.NumHiddenLayers > 0 && !WorkerPool.InLoop && !OpProfile.Enabled && WorkerPool.Contended
            ? Gemm.MaxThreads
            : 1;

    // An inference pass as `chunks` parts of whole sequences, each through embeddings, layers and pooler in a
    // workspace of its own on one thread (its loops run serially inside the task); their outputs are copied
    // into ws, (B,T,C) or (B,C) after a [CLS]-only pass, and (B,C) pooled. Only those, with Input, Mask and
    // ClsOnly, are this pass's in ws: its other activations are the last whole pass's, which no head reads.
    private void ForwardBySequence(BertInput input, BertWorkspace ws, int chunks)
    {
        int B = input.BatchSize, C = Config.HiddenSize, rowsPerSequence = ws.ClsOnly ? 1 : input.SequenceLength;
        bool clsOnly = ws.ClsOnly;
        var output = ws.Layers[^1].Out;
        Buffers.Ensure(ref output.Output, B * rowsPerSequence * C);
        if (_pooler is not null) Buffers.Ensure(ref ws.Pooled, B * C);
        float[] last = output.Output, pooled = ws.Pooled;
        WorkerPool.For(chunks, chunks, c =>
        {
            var (first, count) = DataParallel.Even(B, c, chunks);
            var part = RentWorkspace();
            try
            {
                Forward(input.Rows(first, count), part, dropout: null, clsOnly: clsOnly);
                part.LastHidden.AsSpan(0, count * rowsPerSequence * C).CopyTo(last.AsSpan(first * rowsPerSequence * C));
                if (_pooler is not null) part.Pooled.AsSpan(0, count * C).CopyTo(pooled.AsSpan(first * C));
            }
            finally
            {
                ReturnWorkspace(part);
            }
        });
    }

    /// <summary>
    /// Backward pass after <see cref="Forward(BertInput, BertWorkspace, DropoutStream, List{FloatTensor}, List{FloatTensor}, bool)"/> on the same
    /// workspace: adds every parameter's gradient into <see cref="Parameter.Grad"/>.
    /// </summary>
    /// <param name="ws">The workspace of the forward pass.</param>
    /// <param name="dLastHidden">∂loss/∂last_hidden_state (B,T,C), or (B,C) after a [CLS]-only pass; consumed.</param>
    /// <param name="dPooled">∂loss/∂pooler_output (B,C), or null; consumed.</param>
    internal void Backward(BertWorkspace ws, float[] dLastHidden, float[]? dPooled)
    {
        var input = ws.Input ?? throw new InvalidOperationException("backward needs a forward pass on the same workspace");
        if (!ws.Training) throw new InvalidOperationException("backward needs a training workspace");
        int B = input.BatchSize, T = input.SequenceLength, N = B * T, C = Config.HiddenSize;
        int expected = ws.ClsOnly ? B * C : N * C;
        if (dLastHidden.Length < expected) throw new ArgumentException($"dLastHidden holds {dLastHidden.Length} values, expected {expected}");
        if (dPooled is not null)
        {
            if (_pooler is null) throw new InvalidOperationException("this model has no pooler");
            int ld = ws.ClsStride(C);
            _pooler.Backward(ws.LastHidden, ld, ws.Pooled, dPooled, dLastHidden, B);
        }
        Buffers.Ensure(ref ws.DHiddenA, N * C);
        Buffers.Ensure(ref ws.DHiddenB, N * C);
        Buffers.Ensure(ref ws.DHiddenC, N * C);
        var dEmbeddings = _encoder.Backward(ws.Embeddings.Output, ws.Layers, ws.Mask, dLastHidden, ws.DHiddenA, ws.DHiddenB, ws.ClsOnly, ws.LayerScratch, B, T);
        using (OpProfile.Time(OpProfile.Op.EmbeddingsBackward))
        {
            _embeddings.Backward(input, ws.Embeddings, dEmbeddings, ws.DHiddenC);
        }
    }
}
