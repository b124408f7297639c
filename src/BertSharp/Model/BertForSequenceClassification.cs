using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForSequenceClassification: dropout and a linear <c>classifier</c> over the pooler output
/// (or the final [CLS] state), with HF's three problem types — single-label (softmax, cross-entropy with
/// optional class weights), multi-label (a sigmoid per label, binary cross-entropy) and regression (one value,
/// mean squared error).
/// </summary>
public sealed class BertForSequenceClassification : BertPreTrainedModel
{
    private readonly Linear _classifier;
    private readonly float _classifierDropout;
    private float[] _mask = [], _dropped = [], _dHeadInput = [];
    private float[] _headInput = [];
    private int _headInputStride;
    private bool _dropoutApplied;

    /// <summary>
    /// Loads from weights named as Hugging Face saves this model (<c>bert.…</c> plus <c>classifier.*</c>) or as a
    /// bare encoder; a missing classifier (and, when the head reads it, a missing pooler) is initialised
    /// normal(0, initializer_range) with zero biases from <see cref="SequenceClassificationOptions.Seed"/>.
    /// </summary>
    /// <param name="config">The encoder's shape; labels from id2label (2 when absent, 1 for regression), problem type and head input from the config unless the options say.</param>
    /// <param name="weights">The checkpoint's tensors; they are copied.</param>
    /// <param name="options">Seed and head input; defaults when null.</param>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped.</exception>
    public BertForSequenceClassification(BertConfig config, StateDict weights, SequenceClassificationOptions? options = null)
        : this(Resolve(config, options), options?.Seed ?? 42, weights ?? throw new ArgumentNullException(nameof(weights)), shareTensors: false)
    {
    }

    private BertForSequenceClassification(BertConfig config, int seed, StateDict? weights, bool shareTensors)
        : base(config, weights, seed, config.ClassifierInput == ClassifierHeadInput.ClsHiddenState ? HeadReads.ClsState : HeadReads.PooledOutput, shareTensors)
    {
        ProblemType = config.ProblemType!.Value;
        NumLabels = config.Id2Label?.Count ?? (ProblemType == ProblemType.Regression ? 1 : 2);
        if (ProblemType == ProblemType.SingleLabelClassification && NumLabels < 2)
            throw new ArgumentException($"id2label has {NumLabels} label(s); single-label classification needs at least 2");
        if (NumLabels < 1) throw new ArgumentException("id2label is empty; a classifier needs at least one output");
        _classifierDropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        // A trained head over a pooler the checkpoint lacks would read a random pooler and predict noise; a new
        // head (no classifier in the checkpoint) gets a new pooler to train with it, as Hugging Face does.
        if (Reads == HeadReads.PooledOutput && Root.Has("classifier.weight") && !Root.Has(StateDict.EncoderPrefix + "pooler.dense.weight"))
            throw new InvalidDataException($"{weights!.Source}: the classifier reads the pooler output but the checkpoint has no pooler " +
                "(bert.pooler.dense.weight); a model trained on the [CLS] state needs \"classifier_input\": \"cls_hidden_state\" in config.json");
        NewHead = !Root.Has("classifier.weight");
        _classifier = new Linear(Root.Push("classifier").InitMissing(), config.HiddenSize, NumLabels);
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests and training from scratch.</summary>
    public static BertForSequenceClassification CreateRandom(BertConfig config, SequenceClassificationOptions? options = null) =>
        new(Resolve(config, options), options?.Seed ?? 42, weights: null, shareTensors: false);

    /// <summary>Builds the model over the checkpoint's own tensors, which checks every name and shape (see <see cref="TaskModels.Validate"/>).</summary>
    internal static void Validate(BertConfig config, StateDict weights) => _ = new BertForSequenceClassification(Resolve(config, null), 42, weights, shareTensors: true);

    /// <summary>Number of outputs: the size of the config's id2label (2 when it has none; 1 for regression).</summary>
    public int NumLabels { get; }

    /// <summary>Which output function and loss the head uses.</summary>
    public ProblemType ProblemType { get; }

    /// <summary>What the head reads.</summary>
    public ClassifierHeadInput HeadInput => Reads == HeadReads.ClsState ? ClassifierHeadInput.ClsHiddenState : ClassifierHeadInput.PoolerOutput;

    /// <summary>Whether the classifier was initialised here rather than loaded (a head about to be trained for the first time).</summary>
    internal bool NewHead { get; }

    /// <summary>
    /// Starts a new regression head at the training targets' mean: its output bias is that mean instead of 0. A
    /// rating of 1–10 is otherwise hundreds of AdamW steps away at lr 2e-5, and the first epoch is spent moving
    /// the bias instead of learning from the text.
    /// </summary>
    internal void StartAtMean(ReadOnlySpan<float> targets)
    {
        if (!NewHead || ProblemType != ProblemType.Regression || targets.IsEmpty) return;
        double sum = 0;
        foreach (var t in targets) sum += t;
        _classifier.Bias.Value.Data.AsSpan().Fill((float)(sum / targets.Length));
    }

    /// <summary>Single-label loss weights, one per label (PyTorch's CrossEntropyLoss(weight)); empty for none.</summary>
    internal float[] ClassWeights { get; set; } = [];

    /// <summary>
    /// Logits and scores in evaluation mode — softmax probabilities (single-label), a sigmoid per label
    /// (multi-label) or the value itself (regression) — with attentions and hidden states when asked for.
    /// </summary>
    public ClassifierOutput Predict(BertInput input, bool outputAttentions = false, bool outputHiddenStates = false)
    {
        var output = Forward(input, outputAttentions, outputHiddenStates);
        var scores = new FloatTensor(output.Logits.Shape, (float[])output.Logits.Data.Clone());
        Scores(scores.Data, input.BatchSize);
        return new ClassifierOutput { Logits = output.Logits, Probabilities = scores, Attentions = output.Attentions, HiddenStates = output.HiddenStates };
    }

    /// <summary>Turns logits [rows × labels] into the problem type's scores, in place.</summary>
    public void Scores(Span<float> logits, int rows) => Training.SequenceClassificationTask.Scores(ProblemType, logits, rows, NumLabels);

    /// <summary>
    /// One single-label training step (see <see cref="BertPreTrainedModel"/>): cross-entropy weighted by
    /// <paramref name="classWeights"/> when not empty, its gradient × lossScale added to the parameters' gradients.
    /// </summary>
    /// <returns>The batch's loss.</returns>
    public float TrainStep(BertInput input, ReadOnlySpan<int> labels, ReadOnlySpan<float> classWeights, float lossScale = 1)
    {
        ClassWeights = classWeights.ToArray();
        return TrainStep(new TaskBatch { Input = input, Labels = labels.ToArray() }, lossScale);
    }

    /// <summary>The single-label loss without a backward pass; with <paramref name="training"/> dropout is drawn as in training.</summary>
    internal float Loss(BertInput input, ReadOnlySpan<int> labels, ReadOnlySpan<float> classWeights, bool training)
    {
        ClassWeights = classWeights.ToArray();
        return Loss(new TaskBatch { Input = input, Labels = labels.ToArray() }, training);
    }

    internal override int[] OutputShape(int batch, int sequence) => [batch, NumLabels];

    internal override void HeadForward(BertWorkspace ws, Span<float> output, DropoutStream? dropout)
    {
        int B = ws.BatchSize, C = Config.HiddenSize;
        var (x, ldx) = Reads == HeadReads.PooledOutput ? (ws.Pooled, C) : (ws.LastHidden, ws.ClsStride(C));
        bool drop = dropout is not null && _classifierDropout > 0;
        if (drop)
        {
            // dropout on the head input (B,C), copied out of the strided [CLS] rows
            Buffers.Ensure(ref _mask, B * C);
            Buffers.Ensure(ref _dropped, B * C);
            ulong key = dropout!.NextKey();
            for (int b = 0; b < B; b++)
                Dropout.Forward(x.AsSpan(b * ldx, C), _dropped.AsSpan(b * C, C), _mask.AsSpan(b * C, C), _classifierDropout, key, dropout.Offset(C) + (long)b * C);
            (x, ldx) = (_dropped, C);
        }
        // Only a training pass keeps state: inference may run on other threads meanwhile.
        if (dropout is not null) (_headInput, _headInputStride, _dropoutApplied) = (x, ldx, drop);
        _classifier.Forward(x, ldx, output, B);
    }

    // A class-weighted cross-entropy is a mean weighted by the labels' weights (PyTorch's); every other loss here is a mean over rows.
    internal override double[] LossDenominators(TaskBatch batch)
    {
        if (ProblemType != ProblemType.SingleLabelClassification || ClassWeights.Length == 0) return [batch.Input.BatchSize];
        double sum = 0;
        foreach (int y in batch.Labels) if (y != IgnoreIndex) sum += ClassWeights[y];
        return [sum];
    }

    internal override float HeadLoss(TaskBatch batch, ReadOnlySpan<float> output, Span<float> dOutput, float scale)
    {
        int B = batch.Input.BatchSize;
        return ProblemType switch
        {
            ProblemType.SingleLabelClassification => CrossEntropy.Compute(output, B, NumLabels, batch.Labels, ClassWeights, dOutput, scale),
            ProblemType.MultiLabelClassification => BceWithLogits.Compute(output, batch.Targets, dOutput, scale),
            _ => MeanSquaredError.Compute(output, batch.Targets, dOutput, scale),
        };
    }

    internal override void HeadBackward(BertWorkspace ws, ReadOnlySpan<float> dOutput, float[] dLastHidden, float[] dPooled)
    {
        int B = ws.BatchSize, C = Config.HiddenSize;
        Buffers.Ensure(ref _dHeadInput, B * C);
        // logits = x Wᵀ + b → dW, db, dx (B,C)
        _classifier.Backward(_headInput, _headInputStride, dOutput, _dHeadInput, C, B, accumulateDx: false);
        if (_dropoutApplied) Dropout.Backward(_dHeadInput.AsSpan(0, B * C), _mask, _dHeadInput.AsSpan(0, B * C));
        if (Reads == HeadReads.PooledOutput)
        {
            _dHeadInput.AsSpan(0, B * C).CopyTo(dPooled);
            return;
        }
        // ∂loss/∂last hidden state: zero but at the [CLS] rows, which is all there is after a [CLS]-only pass.
        int stride = ws.ClsStride(C);
        for (int b = 0; b < B; b++) _dHeadInput.AsSpan(b * C, C).CopyTo(dLastHidden.AsSpan(b * stride, C));
    }

    internal override void ExportHead(OnnxExporterGraph graph, string lastHidden)
    {
        var x = Reads == HeadReads.PooledOutput ? graph.Pooler(lastHidden) : graph.ClsRows(lastHidden);
        graph.Rename(graph.HeadLinear(x, "classifier"), "logits");
        graph.Output("logits", "batch", NumLabels);
    }

    // The config this model saves: its architecture, problem type and head input written out, so that loading
    // it again builds the same head. Options override what the config says.
    internal static BertConfig Resolve(BertConfig config, SequenceClassificationOptions? options)
    {
        ArgumentNullException.ThrowIfNull(config);
        var problem = config.ProblemType ?? (config.Id2Label?.Count == 1 ? ProblemType.Regression : ProblemType.SingleLabelClassification);
        return config with
        {
            Architectures = [nameof(BertForSequenceClassification)],
            ProblemType = problem,
            ClassifierInput = options?.HeadInput ?? config.ClassifierInput ?? ClassifierHeadInput.PoolerOutput,
        };
    }
}
