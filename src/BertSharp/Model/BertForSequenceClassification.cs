using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForSequenceClassification: the encoder (weights under <c>bert.</c>), dropout,
/// and a linear <c>classifier</c> on the pooler output or on the final [CLS] state.
/// </summary>
/// <remarks>
/// <see cref="Logits"/> and <see cref="Predict"/> are safe to call concurrently. <see cref="TrainStep"/>
/// keeps one training workspace and mutates gradients: call it from one thread at a time, and not
/// while other threads predict with the same instance if the weights are being updated.
/// </remarks>
public sealed class BertForSequenceClassification
{
    private readonly Linear _classifier;
    private readonly DropoutStream _dropout;
    private readonly float _classifierDropout;
    private readonly bool _usePooler;
    private readonly BertWorkspace _trainWorkspace;

    // Training buffers, reused across steps.
    private float[] _headMask = [], _headDropped = [], _logits = [], _dLogits = [], _dHeadInput = [], _dLastHidden = [];
    private float[] _headInput = [];
    private int _headInputStride;
    private bool _headDropoutApplied;

    /// <summary>
    /// Loads from weights named as Hugging Face saves this model (<c>bert.…</c> plus <c>classifier.*</c>) or
    /// as a bare encoder; a missing classifier (and, when the head reads it, a missing pooler) is
    /// initialised normal(0, initializer_range) with zero biases from <see cref="SequenceClassificationOptions.Seed"/>.
    /// </summary>
    /// <param name="config">The encoder's shape; the number of labels is the size of id2label (2 when absent).</param>
    /// <param name="weights">The checkpoint's tensors; they are copied.</param>
    /// <param name="options">Seed and head input; defaults when null.</param>
    /// <exception cref="InvalidDataException">An encoder weight is missing or misshaped.</exception>
    public BertForSequenceClassification(BertConfig config, StateDict weights, SequenceClassificationOptions? options = null)
        : this(config, options ?? new(), weights ?? throw new ArgumentNullException(nameof(weights)))
    {
    }

    private BertForSequenceClassification(BertConfig config, SequenceClassificationOptions options, StateDict? weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        NumLabels = config.Id2Label?.Count ?? 2;
        if (NumLabels < 2)
            throw new ArgumentException($"id2label has {NumLabels} label(s); sequence classification needs at least 2");
        Options = options;
        _usePooler = options.HeadInput == ClassifierHeadInput.PoolerOutput;
        _classifierDropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        BertModel.CheckProbability(_classifierDropout, "classifier_dropout");
        string prefix = weights is null ? "" : BertModel.SourcePrefix(weights);
        var wb = WeightBuilder.Create(weights, prefix, options.Seed, config.InitializerRange);
        Bert = new BertModel(config, wb, addPooler: _usePooler ? true : null);
        _classifier = new Linear(wb.WithSourcePrefix("").Push("classifier").InitMissing(), config.HiddenSize, NumLabels);
        Parameters = [.. Bert.Parameters, _classifier.Weight, _classifier.Bias];
        _dropout = new DropoutStream(options.Seed);
        _trainWorkspace = Bert.CreateTrainingWorkspace();
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests and training from scratch.</summary>
    public static BertForSequenceClassification CreateRandom(BertConfig config, SequenceClassificationOptions? options = null) =>
        new(config, options ?? new(), weights: null);

    /// <summary>The encoder (weights <c>bert.…</c> in <see cref="ToStateDict"/>).</summary>
    public BertModel Bert { get; }

    /// <summary>What runs the matrix products, the encoder's and the head's (see <see cref="BertModel.Provider"/>).</summary>
    public ComputeProvider Provider
    {
        get => Bert.Provider;
        set => Bert.Provider = value;
    }

    /// <summary>Number of classes: the size of the config's id2label, 2 when it has none.</summary>
    public int NumLabels { get; }

    /// <summary>The seed and head input this model was built with.</summary>
    public SequenceClassificationOptions Options { get; }

    /// <summary>Encoder parameters (bare names) then classifier.weight and classifier.bias.</summary>
    internal IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>
    /// Whether the last layer computes only the [CLS] rows, the only ones the head reads (on by default:
    /// same numbers, about five sixths of the last layer's work saved); tests turn it off to compare.
    /// </summary>
    internal bool ClsOnlyLastLayer { get; set; } = true;

    /// <summary>The dropout generator; tests rewind its position to replay a training forward pass.</summary>
    internal DropoutStream DropoutStream => _dropout;

    /// <summary>Logits in evaluation mode, row-major [batch × labels].</summary>
    public float[] Logits(BertInput input)
    {
        var ws = Bert.RentWorkspace();
        try
        {
            Bert.Forward(input, ws, dropout: null, clsOnly: ClsOnlyLastLayer);
            var logits = new float[input.BatchSize * NumLabels];
            var (x, ldx) = HeadInput(ws);
            _classifier.Forward(x, ldx, logits, input.BatchSize);
            return logits;
        }
        finally
        {
            Bert.ReturnWorkspace(ws);
        }
    }

    /// <summary>Logits and probabilities in evaluation mode, with attentions and hidden states when asked for.</summary>
    public ClassifierOutput Predict(BertInput input, bool outputAttentions = false, bool outputHiddenStates = false)
    {
        var ws = Bert.RentWorkspace();
        try
        {
            var hiddenStates = outputHiddenStates ? new List<Tensor>() : null;
            var attentions = outputAttentions ? new List<Tensor>() : null;
            Bert.Forward(input, ws, dropout: null, hiddenStates, attentions, clsOnly: ClsOnlyLastLayer && !outputAttentions && !outputHiddenStates);
            int B = input.BatchSize, L = NumLabels;
            var logits = new Tensor([B, L]);
            var (x, ldx) = HeadInput(ws);
            _classifier.Forward(x, ldx, logits.Data, B);
            var probabilities = new Tensor([B, L], (float[])logits.Data.Clone());
            Kernels.SoftmaxRows(probabilities.Data, B, L);
            return new ClassifierOutput
            {
                Logits = logits,
                Probabilities = probabilities,
                Attentions = attentions,
                HiddenStates = hiddenStates,
            };
        }
        finally
        {
            Bert.ReturnWorkspace(ws);
        }
    }

    /// <summary>
    /// One training forward and backward pass: dropout on, mean cross-entropy (weighted like PyTorch's
    /// CrossEntropyLoss(weight) when <paramref name="classWeights"/> is not empty), and the gradient of
    /// lossScale × loss ADDED to every parameter's gradient, so steps accumulate until <see cref="ZeroGrad"/>.
    /// </summary>
    /// <param name="input">A padded batch.</param>
    /// <param name="labels">One label index per batch row.</param>
    /// <param name="classWeights">One weight per label, or empty.</param>
    /// <param name="lossScale">Multiplies the gradient (e.g. 1 / accumulation steps); the returned loss is unscaled.</param>
    /// <returns>The batch's loss.</returns>
    public float TrainStep(BertInput input, ReadOnlySpan<int> labels, ReadOnlySpan<float> classWeights, float lossScale = 1)
    {
        float loss = ForwardTraining(input, labels, classWeights, lossScale, training: true, computeGradient: true);
        BackwardTraining();
        return loss;
    }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }

    /// <summary>Hugging Face's names: <c>bert.…</c> for the encoder plus <c>classifier.weight</c>/<c>classifier.bias</c>; tensors are shared, not copied.</summary>
    public StateDict ToStateDict()
    {
        var state = new StateDict { Source = "BertForSequenceClassification" };
        Bert.MarkWeightsMutable();
        foreach (var p in Bert.Parameters) state["bert." + p.Name] = p.Value;
        state[_classifier.Weight.Name] = _classifier.Weight.Value;
        state[_classifier.Bias.Name] = _classifier.Bias.Value;
        return state;
    }

    /// <summary>The loss without a backward pass; with <paramref name="training"/> dropout is drawn as in <see cref="TrainStep"/>.</summary>
    internal float Loss(BertInput input, ReadOnlySpan<int> labels, ReadOnlySpan<float> classWeights, bool training) =>
        ForwardTraining(input, labels, classWeights, 1f, training, computeGradient: false);

    private float ForwardTraining(BertInput input, ReadOnlySpan<int> labels, ReadOnlySpan<float> classWeights, float lossScale, bool training, bool computeGradient)
    {
        var ws = _trainWorkspace;
        var dropout = training ? _dropout : null;
        Bert.Forward(input, ws, dropout, clsOnly: ClsOnlyLastLayer);
        int B = input.BatchSize, C = Bert.Config.HiddenSize, L = NumLabels;
        var (x, ldx) = HeadInput(ws);
        _headDropoutApplied = dropout is not null && _classifierDropout > 0;
        if (_headDropoutApplied)
        {
            // dropout on the head input (B,C), copied out of the strided [CLS] rows
            Buffers.Ensure(ref _headMask, B * C);
            Buffers.Ensure(ref _headDropped, B * C);
            ulong key = dropout!.NextKey();
            for (int b = 0; b < B; b++)
                Dropout.Forward(x.AsSpan(b * ldx, C), _headDropped.AsSpan(b * C, C), _headMask.AsSpan(b * C, C), _classifierDropout, key, (long)b * C);
            (x, ldx) = (_headDropped, C);
        }
        _headInput = x;
        _headInputStride = ldx;
        Buffers.Ensure(ref _logits, B * L);
        Buffers.Ensure(ref _dLogits, B * L);
        _classifier.Forward(x, ldx, _logits, B);
        return CrossEntropy.Compute(_logits.AsSpan(0, B * L), B, L, labels, classWeights,
            computeGradient ? _dLogits.AsSpan(0, B * L) : default, lossScale);
    }

    private void BackwardTraining()
    {
        var ws = _trainWorkspace;
        int B = ws.BatchSize, T = ws.SequenceLength, C = Bert.Config.HiddenSize;
        Buffers.Ensure(ref _dHeadInput, B * C);
        // logits = x Wᵀ + b → dW, db, dx (B,C)
        _classifier.Backward(_headInput, _headInputStride, _dLogits, _dHeadInput, C, B, accumulateDx: false);
        if (_headDropoutApplied) Dropout.Backward(_dHeadInput.AsSpan(0, B * C), _headMask, _dHeadInput.AsSpan(0, B * C));
        // ∂loss/∂last hidden state: zero but at the [CLS] rows, which is all there is after a [CLS]-only pass.
        int length = ws.ClsOnly ? B * C : B * T * C, stride = ws.ClsStride(C);
        Buffers.Ensure(ref _dLastHidden, length);
        _dLastHidden.AsSpan(0, length).Clear();
        if (_usePooler)
        {
            Bert.Backward(ws, _dLastHidden, _dHeadInput);
        }
        else
        {
            for (int b = 0; b < B; b++) _dHeadInput.AsSpan(b * C, C).CopyTo(_dLastHidden.AsSpan(b * stride, C));
            Bert.Backward(ws, _dLastHidden, dPooled: null);
        }
    }

    private (float[] X, int Ldx) HeadInput(BertWorkspace ws) =>
        _usePooler ? (ws.Pooled, Bert.Config.HiddenSize) : (ws.LastHidden, ws.ClsStride(Bert.Config.HiddenSize));
}
