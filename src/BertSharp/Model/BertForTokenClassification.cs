using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForTokenClassification: dropout and a linear <c>classifier</c> over every token's final
/// hidden state, trained with cross-entropy that skips positions labelled <see cref="BertPreTrainedModel.IgnoreIndex"/>
/// (special tokens, padding, and the later pieces of a word). Like HF's, it has no pooler.
/// </summary>
public sealed class BertForTokenClassification : BertPreTrainedModel
{
    private readonly Linear _classifier;
    private readonly float _classifierDropout;
    private float[] _mask = [], _dropped = [], _dHeadInput = [];
    private float[] _headInput = [];
    private bool _dropoutApplied;

    /// <summary>
    /// Loads from weights named as Hugging Face saves this model (<c>bert.…</c> plus <c>classifier.*</c>) or as a
    /// bare encoder; a missing classifier is initialised normal(0, initializer_range) with zero biases from
    /// <paramref name="seed"/>.
    /// </summary>
    /// <param name="config">The encoder's shape; the labels come from id2label (at least two).</param>
    /// <param name="weights">The checkpoint's tensors; they are copied.</param>
    /// <param name="seed">Seeds a new classifier and the dropout masks.</param>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped.</exception>
    public BertForTokenClassification(BertConfig config, StateDict weights, int seed = 42)
        : this(Resolve(config), seed, weights ?? throw new ArgumentNullException(nameof(weights)), shareTensors: false)
    {
    }

    private BertForTokenClassification(BertConfig config, int seed, StateDict? weights, bool shareTensors)
        : base(config, weights, seed, HeadReads.EveryToken, shareTensors)
    {
        NumLabels = config.Id2Label?.Count ?? 2;
        if (NumLabels < 2) throw new ArgumentException($"id2label has {NumLabels} label(s); token classification needs at least 2");
        _classifierDropout = config.ClassifierDropout ?? config.HiddenDropoutProb;
        _classifier = new Linear(Root.Push("classifier").InitMissing(), config.HiddenSize, NumLabels);
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests and training from scratch.</summary>
    public static BertForTokenClassification CreateRandom(BertConfig config, int seed = 42) => new(Resolve(config), seed, weights: null, shareTensors: false);

    /// <summary>Builds the model over the checkpoint's own tensors, which checks every name and shape (see <see cref="TaskModels.Validate"/>).</summary>
    internal static void Validate(BertConfig config, StateDict weights) => _ = new BertForTokenClassification(Resolve(config), 42, weights, shareTensors: true);

    /// <summary>Number of tags: the size of the config's id2label.</summary>
    public int NumLabels { get; }

    /// <summary>The tag names in id order (from the config's id2label; <c>LABEL_i</c> where it has none).</summary>
    public IReadOnlyList<string> Labels => [.. Enumerable.Range(0, NumLabels).Select(i =>
        Config.Id2Label is { } m && m.TryGetValue(i.ToString(System.Globalization.CultureInfo.InvariantCulture), out var name) ? name : $"LABEL_{i}")];

    internal override int[] OutputShape(int batch, int sequence) => [batch, sequence, NumLabels];

    internal override void HeadForward(BertWorkspace ws, Span<float> output, DropoutStream? dropout)
    {
        int rows = ws.BatchSize * ws.SequenceLength, C = Config.HiddenSize;
        float[] x = ws.LastHidden;
        bool drop = dropout is not null && _classifierDropout > 0;
        if (drop)
        {
            Buffers.Ensure(ref _mask, rows * C);
            Buffers.Ensure(ref _dropped, rows * C);
            Dropout.Forward(x.AsSpan(0, rows * C), _dropped.AsSpan(0, rows * C), _mask.AsSpan(0, rows * C), _classifierDropout, dropout!.NextKey(), dropout.Offset((long)ws.SequenceLength * C));
            x = _dropped;
        }
        // Only a training pass keeps state: inference may run on other threads meanwhile.
        if (dropout is not null) (_headInput, _dropoutApplied) = (x, drop);
        _classifier.Forward(x, C, output, rows);
    }

    internal override double[] LossDenominators(TaskBatch batch) => [Counted(batch.Labels)];

    internal override float HeadLoss(TaskBatch batch, ReadOnlySpan<float> output, Span<float> dOutput, float scale)
    {
        int rows = batch.Input.BatchSize * batch.Input.SequenceLength;
        if (batch.Labels.Length != rows)
            throw new ArgumentException($"{batch.Labels.Length} token labels for a batch of {batch.Input.BatchSize} × {batch.Input.SequenceLength} tokens");
        return CrossEntropy.Compute(output, rows, NumLabels, batch.Labels, [], dOutput, scale);
    }

    internal override void HeadBackward(BertWorkspace ws, ReadOnlySpan<float> dOutput, float[] dLastHidden, float[] dPooled)
    {
        int rows = ws.BatchSize * ws.SequenceLength, C = Config.HiddenSize;
        Buffers.Ensure(ref _dHeadInput, rows * C);
        _classifier.Backward(_headInput, C, dOutput, _dHeadInput, C, rows, accumulateDx: false);
        var dx = _dHeadInput.AsSpan(0, rows * C);
        if (_dropoutApplied) Dropout.Backward(dx, _mask, dx);
        dx.CopyTo(dLastHidden);
    }

    internal override void ExportHead(OnnxExporterGraph graph, string lastHidden)
    {
        graph.Rename(graph.HeadLinear3D(lastHidden, "classifier"), "logits");
        graph.Output("logits", "batch", "sequence", NumLabels);
    }

    // The config this model saves: its architecture written out, so loading it again builds this head.
    internal static BertConfig Resolve(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { Architectures = [nameof(BertForTokenClassification)], ProblemType = null };
    }
}
