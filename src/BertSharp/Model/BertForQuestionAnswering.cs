using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForQuestionAnswering: a linear <c>qa_outputs</c> (hidden → 2) on every token's final
/// state, giving a start and an end logit per token; the loss is the mean of the start and end cross-entropies
/// over the sequence. The output is one tensor [batch, sequence, 2] (start at index 0, end at 1) — HF's
/// <c>qa_outputs</c> before it splits it into <c>start_logits</c> and <c>end_logits</c> — so the managed model
/// and the exported graph (one output, <c>logits</c>) have the same layout.
/// </summary>
public sealed class BertForQuestionAnswering : BertPreTrainedModel
{
    private readonly Linear _qaOutputs;

    /// <summary>
    /// Loads from weights named as Hugging Face saves this model (<c>bert.…</c> plus <c>qa_outputs.*</c>) or a bare
    /// encoder; a missing <c>qa_outputs</c> is initialised normal(0, initializer_range) with zero biases from the seed.
    /// </summary>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped.</exception>
    public BertForQuestionAnswering(BertConfig config, StateDict weights, int seed = 42)
        : this(Resolve(config), seed, weights ?? throw new ArgumentNullException(nameof(weights)), shareTensors: false)
    {
    }

    private BertForQuestionAnswering(BertConfig config, int seed, StateDict? weights, bool shareTensors)
        : base(config, weights, seed, HeadReads.EveryToken, shareTensors)
    {
        _qaOutputs = new Linear(Root.Push("qa_outputs").InitMissing(), config.HiddenSize, 2);
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests.</summary>
    public static BertForQuestionAnswering CreateRandom(BertConfig config, int seed = 42) => new(Resolve(config), seed, weights: null, shareTensors: false);

    /// <summary>Builds the model over the checkpoint's own tensors, which checks every name and shape (see <see cref="TaskModels.Validate"/>).</summary>
    internal static void Validate(BertConfig config, StateDict weights) => _ = new BertForQuestionAnswering(Resolve(config), 42, weights, shareTensors: true);

    /// <summary>
    /// Training loss for a batch: <paramref name="startEnd"/> holds each row's start then end token position;
    /// a position outside the sequence is ignored, as HF's clamp to <c>ignored_index</c>.
    /// </summary>
    internal float Loss(BertInput input, ReadOnlySpan<int> startEnd, bool training) => Loss(new TaskBatch { Input = input, Labels = startEnd.ToArray() }, training);

    internal override int[] OutputShape(int batch, int sequence) => [batch, sequence, 2];

    internal override void HeadForward(BertWorkspace ws, Span<float> output, DropoutStream? dropout)
    {
        // HF's question-answering head has no dropout of its own: the encoder's output goes straight to qa_outputs.
        _qaOutputs.Forward(ws.LastHidden, Config.HiddenSize, output, ws.BatchSize * ws.SequenceLength);
    }

    // The rows whose start lies in the window (the start and the end of an answer are in or out of it together).
    internal override double[] LossDenominators(TaskBatch batch)
    {
        int n = 0, T = batch.Input.SequenceLength;
        for (int b = 0; b < batch.Input.BatchSize; b++) if ((uint)batch.Labels[2 * b] < (uint)T) n++;
        return [n];
    }

    internal override float HeadLoss(TaskBatch batch, ReadOnlySpan<float> output, Span<float> dOutput, float scale) =>
        SpanLoss(output, batch.Input.BatchSize, batch.Input.SequenceLength, batch.Labels, dOutput, scale);

    /// <summary>
    /// The mean of the start and end cross-entropies over the sequence for output [B, T, 2] and positions
    /// (start, end) per row; a position outside [0, T) is ignored, as HF's clamp to <c>ignored_index</c> (an
    /// answer cut out of the window teaches nothing). When <paramref name="dOutput"/> is not empty it receives
    /// scale × ∂loss/∂output.
    /// </summary>
    internal static float SpanLoss(ReadOnlySpan<float> output, int B, int T, ReadOnlySpan<int> startEnd, Span<float> dOutput, float scale)
    {
        if (startEnd.Length != 2 * B)
            throw new ArgumentException($"{startEnd.Length} positions for a batch of {B}; question answering needs a start and an end per row");
        var column = new float[B * T];
        var dColumn = dOutput.IsEmpty ? [] : new float[B * T];
        var positions = new int[B];
        float total = 0;
        for (int which = 0; which < 2; which++)
        {
            for (int b = 0; b < B; b++)
            {
                int p = startEnd[2 * b + which];
                positions[b] = p < 0 || p >= T ? IgnoreIndex : p;
                for (int t = 0; t < T; t++) column[b * T + t] = output[(b * T + t) * 2 + which];
            }
            total += CrossEntropy.Compute(column, B, T, positions, [], dColumn, scale / 2);
            for (int i = 0; i < dColumn.Length; i++) dOutput[i * 2 + which] = dColumn[i];
        }
        return total / 2;
    }

    internal override void HeadBackward(BertWorkspace ws, ReadOnlySpan<float> dOutput, float[] dLastHidden, float[] dPooled)
    {
        int C = Config.HiddenSize;
        _qaOutputs.Backward(ws.LastHidden, C, dOutput, dLastHidden, C, ws.BatchSize * ws.SequenceLength, accumulateDx: false);
    }

    internal override void ExportHead(OnnxExporterGraph graph, string lastHidden)
    {
        graph.Rename(graph.HeadLinear3D(lastHidden, "qa_outputs"), "logits");
        graph.Output("logits", "batch", "sequence", 2);
    }

    internal static BertConfig Resolve(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { Architectures = [nameof(BertForQuestionAnswering)] };
    }
}
