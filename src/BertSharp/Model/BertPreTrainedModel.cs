using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// What every task model shares (Hugging Face's <c>BertPreTrainedModel</c>): the encoder under <c>bert.</c>,
/// the parameters named as checkpoint keys, the dropout stream, the provider, the state dict and the training
/// step. A task is a small subclass — its head — that says what it reads of the encoder, computes its output
/// and loss, and sends the loss's gradient back to the encoder's last hidden state (or pooled output).
/// </summary>
/// <remarks>
/// <see cref="Logits"/> and <see cref="Forward"/> are safe to call concurrently. Training keeps one workspace and
/// mutates gradients: call it from one thread at a time.
/// </remarks>
public abstract class BertPreTrainedModel
{
    /// <summary>The target value a loss skips (PyTorch's <c>ignore_index</c>): special tokens, later word pieces, padding.</summary>
    public const int IgnoreIndex = -100;

    private readonly WeightBuilder _root;
    private readonly DropoutStream _dropout;
    private readonly BertWorkspace _trainWorkspace;
    private float[] _logits = [], _dLogits = [], _dLastHidden = [], _dPooled = [];
    private int _trainOutputLength;

    /// <summary>Builds the encoder; the subclass then builds its head from <see cref="Root"/>.</summary>
    /// <param name="config">The encoder's shape (and the head's options).</param>
    /// <param name="weights">A checkpoint (bare or <c>bert.</c>-prefixed encoder names), or null for a random model.</param>
    /// <param name="seed">Seeds whatever is initialised and the dropout masks.</param>
    /// <param name="reads">What the head reads; a head on the pooled output gets a pooler, initialised when missing.</param>
    /// <param name="shareTensors">Take the checkpoint's tensors rather than copies (a model built only to check them).</param>
    private protected BertPreTrainedModel(BertConfig config, StateDict? weights, int seed, HeadReads reads, bool shareTensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        Reads = reads;
        _root = WeightBuilder.Create(weights?.WithCheckpointNames(), seed, config.InitializerRange, shareTensors);
        Bert = new BertModel(config, _root.Push(BertModel.Root), addPooler: reads is HeadReads.PooledOutput or HeadReads.EveryTokenAndPooled ? true : null);
        _dropout = new DropoutStream(seed);
        _trainWorkspace = Bert.CreateTrainingWorkspace();
    }

    /// <summary>The encoder (weights <c>bert.…</c> in <see cref="ToStateDict"/>).</summary>
    public BertModel Bert { get; }

    /// <summary>The config the model was built with (sizes, labels, the head's options).</summary>
    public BertConfig Config { get; }

    /// <summary>What runs the matrix products, the encoder's and the head's (see <see cref="BertModel.Provider"/>).</summary>
    public ComputeProvider Provider
    {
        get => Bert.Provider;
        set => Bert.Provider = value;
    }

    /// <summary>Every parameter, encoder then head, each once (a tied weight is its first owner's), named as checkpoint keys.</summary>
    internal IReadOnlyList<Parameter> Parameters => _root.Created;

    /// <summary>The dropout generator; checkpoints save its position and tests rewind it to replay a pass.</summary>
    internal DropoutStream DropoutStream => _dropout;

    /// <summary>
    /// Whether the last layer computes only the [CLS] rows when the head reads nothing else (on by default: same
    /// numbers, about five sixths of the last layer's work saved); tests turn it off to compare.
    /// </summary>
    internal bool ClsOnlyLastLayer { get; set; } = true;

    /// <summary>What the head reads of the encoder.</summary>
    internal HeadReads Reads { get; }

    /// <summary>The builder at the model's root, for the head's modules (<c>classifier</c>, <c>cls.predictions</c>, …).</summary>
    private protected WeightBuilder Root => _root;

    private bool ClsOnly => Reads is HeadReads.PooledOutput or HeadReads.ClsState && ClsOnlyLastLayer;

    /// <summary>The head's output in evaluation mode, row-major in the shape of <see cref="OutputShape"/>.</summary>
    public float[] Logits(BertInput input)
    {
        var ws = Bert.RentWorkspace();
        try
        {
            Bert.Forward(input, ws, dropout: null, clsOnly: ClsOnly);
            var logits = new float[Count(OutputShape(input.BatchSize, input.SequenceLength))];
            HeadForward(ws, logits, dropout: null);
            return logits;
        }
        finally
        {
            Bert.ReturnWorkspace(ws);
        }
    }

    /// <summary>The head's output in evaluation mode with the encoder's attentions and hidden states when asked for.</summary>
    public TaskOutput Forward(BertInput input, bool outputAttentions = false, bool outputHiddenStates = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        var ws = Bert.RentWorkspace();
        try
        {
            var hiddenStates = outputHiddenStates ? new List<FloatTensor>() : null;
            var attentions = outputAttentions ? new List<FloatTensor>() : null;
            Bert.Forward(input, ws, dropout: null, hiddenStates, attentions, clsOnly: ClsOnly && !outputAttentions && !outputHiddenStates);
            var logits = new FloatTensor(OutputShape(input.BatchSize, input.SequenceLength));
            HeadForward(ws, logits.Data, dropout: null);
            return new TaskOutput { Logits = logits, Attentions = attentions, HiddenStates = hiddenStates };
        }
        finally
        {
            Bert.ReturnWorkspace(ws);
        }
    }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>The weights under their checkpoint names (<c>bert.…</c>, then the head's); tensors are shared, not copied.</summary>
    /// <remarks>A tied weight appears once, under its first owner's name, as Hugging Face's safetensors files store it.</remarks>
    public StateDict ToStateDict()
    {
        Bert.MarkWeightsMutable();
        var state = new StateDict { Source = GetType().Name };
        foreach (var p in Parameters) state[p.Name] = p.Value;
        return state;
    }

    /// <summary>
    /// One training forward and backward pass with dropout on: returns the batch's loss and ADDS the gradient of
    /// lossScale × loss to every parameter's gradient, so steps accumulate until <see cref="ZeroGrad"/>.
    /// </summary>
    internal float TrainStep(TaskBatch batch, float lossScale = 1)
    {
        float loss = ForwardLoss(batch, lossScale, training: true, computeGradient: true);
        Backward();
        return loss;
    }

    /// <summary>The loss without a backward pass; with <paramref name="training"/> dropout is drawn as in <see cref="TrainStep"/>.</summary>
    internal float Loss(TaskBatch batch, bool training) => ForwardLoss(batch, 1f, training, computeGradient: false);

    /// <summary>The output's shape for a batch of <paramref name="batch"/> sequences of <paramref name="sequence"/> tokens.</summary>
    internal abstract int[] OutputShape(int batch, int sequence);

    /// <summary>
    /// How many values the head writes in a training pass (<see cref="TrainStep"/>, <see cref="Loss"/>) over
    /// <paramref name="batch"/>: its inference output unless it computes less in training (the masked LM scores
    /// only the masked positions), in which case it records here what <see cref="HeadForward"/> computes.
    /// </summary>
    internal virtual int TrainOutputLength(TaskBatch batch) => Count(OutputShape(batch.Input.BatchSize, batch.Input.SequenceLength));

    /// <summary>
    /// The head's forward pass from the encoder's output in <paramref name="ws"/> (ws.LastHidden, or only its
    /// [CLS] rows after a [CLS]-only pass, and ws.Pooled) into <paramref name="output"/>. With
    /// <paramref name="dropout"/> (training) it keeps what <see cref="HeadBackward"/> needs.
    /// </summary>
    internal abstract void HeadForward(BertWorkspace ws, Span<float> output, DropoutStream? dropout);

    /// <summary>
    /// What each term of the head's loss on <paramref name="batch"/> is a mean over: the rows, unless a term averages
    /// over the targets it does not skip (weighted as it weighs them). A data-parallel rank weighs each term of its
    /// slice of a micro-batch by the slice's part of the whole's (<see cref="TaskBatch.LossShares"/>), so that the
    /// ranks' losses and gradients add up to the whole micro-batch's.
    /// </summary>
    internal virtual double[] LossDenominators(TaskBatch batch) => [batch.Input.BatchSize];

    /// <summary>Whether <see cref="HeadLoss"/> applies <see cref="TaskBatch.LossShares"/> itself (a loss of several terms); else the one share scales the whole loss.</summary>
    private protected virtual bool HeadAppliesLossShares => false;

    /// <summary>How many of <paramref name="labels"/> a loss counts (those not <see cref="IgnoreIndex"/>).</summary>
    private protected static int Counted(ReadOnlySpan<int> labels)
    {
        int n = 0;
        foreach (int y in labels) if (y != IgnoreIndex) n++;
        return n;
    }

    /// <summary>The loss of <paramref name="output"/> against the batch's targets; when <paramref name="dOutput"/> is not empty it receives scale × ∂loss/∂output.</summary>
    internal abstract float HeadLoss(TaskBatch batch, ReadOnlySpan<float> output, Span<float> dOutput, float scale);

    /// <summary>
    /// The head's backward pass: adds its parameters' gradients and writes ∂loss/∂(what it read) into
    /// <paramref name="dLastHidden"/> (zeroed, shaped like ws.LastHidden) or <paramref name="dPooled"/> (zeroed, (B,C)).
    /// </summary>
    internal abstract void HeadBackward(BertWorkspace ws, ReadOnlySpan<float> dOutput, float[] dLastHidden, float[] dPooled);

    /// <summary>
    /// Adds the head's nodes to an ONNX graph whose encoder ends in <paramref name="lastHidden"/> (batch, sequence,
    /// hidden), and declares the head's outputs under Hugging Face's names.
    /// </summary>
    internal abstract void ExportHead(OnnxExporterGraph graph, string lastHidden);

    private float ForwardLoss(TaskBatch batch, float lossScale, bool training, bool computeGradient)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var ws = _trainWorkspace;
        var dropout = training ? _dropout : null;
        var input = batch.Input;
        Bert.Forward(input, ws, dropout, clsOnly: ClsOnly);
        int n = _trainOutputLength = TrainOutputLength(batch);
        Buffers.Ensure(ref _logits, n);
        Buffers.Ensure(ref _dLogits, n);
        HeadForward(ws, _logits.AsSpan(0, n), dropout);
        if (batch.LossShares is not [var share] || HeadAppliesLossShares)
            return HeadLoss(batch, _logits.AsSpan(0, n), computeGradient ? _dLogits.AsSpan(0, n) : default, lossScale);
        return (float)share * HeadLoss(batch, _logits.AsSpan(0, n), computeGradient ? _dLogits.AsSpan(0, n) : default, lossScale * (float)share);
    }

    private void Backward()
    {
        var ws = _trainWorkspace;
        int B = ws.BatchSize, T = ws.SequenceLength, C = Config.HiddenSize;
        int length = ws.ClsOnly ? B * C : B * T * C;
        Buffers.Ensure(ref _dLastHidden, length);
        _dLastHidden.AsSpan(0, length).Clear();
        bool pooled = Reads is HeadReads.PooledOutput or HeadReads.EveryTokenAndPooled;
        if (pooled)
        {
            Buffers.Ensure(ref _dPooled, B * C);
            _dPooled.AsSpan(0, B * C).Clear();
        }
        HeadBackward(ws, _dLogits.AsSpan(0, _trainOutputLength), _dLastHidden, _dPooled);
        Bert.Backward(ws, _dLastHidden, pooled ? _dPooled : null);
    }

    private static int Count(int[] shape)
    {
        int n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }
}
