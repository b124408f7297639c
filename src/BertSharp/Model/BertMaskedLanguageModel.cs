using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// What <see cref="BertForMaskedLM"/> and <see cref="BertForPreTraining"/> share: Hugging Face's masked-LM head
/// (<c>cls.predictions</c>, decoder tied to the word embeddings) and, for pre-training, the next-sentence head
/// <c>cls.seq_relationship</c> on the pooler output. The inference output (<see cref="BertPreTrainedModel.Logits"/>)
/// is the vocabulary logits of every token, (batch, sequence, vocab).
/// </summary>
/// <remarks>
/// Training targets (<c>TaskBatch.Labels</c>): one per token, batch-major, the original token id at a masked
/// position and <see cref="BertPreTrainedModel.IgnoreIndex"/> elsewhere; with next-sentence prediction followed by
/// one per sequence (0: the second segment follows the first, 1: it is random, as HF's <c>next_sentence_label</c>).
/// The loss is HF's: the mean cross-entropy over masked tokens, plus the next-sentence cross-entropy.
/// </remarks>
public abstract class BertMaskedLanguageModel : BertPreTrainedModel
{
    /// <summary>The masked-LM head's checkpoint path.</summary>
    internal const string PredictionsPath = "cls.predictions.";

    private readonly MaskedLmHead _head;
    private readonly Linear? _seqRelationship;
    private readonly MaskedLmHead.Scratch _trainScratch = new();
    private int[] _rows = [], _rowLabels = [];
    private float[] _x = [], _dx = [];

    private protected BertMaskedLanguageModel(BertConfig config, StateDict? weights, int seed, bool nextSentence, bool shareTensors)
        : base(config, weights is null ? null : Normalize(weights, tied: (config ?? throw new ArgumentNullException(nameof(config))).TieWordEmbeddings != false), seed, nextSentence ? HeadReads.EveryTokenAndPooled : HeadReads.EveryToken, shareTensors)
    {
        var cls = Root.Push("cls");
        // An encoder saved without the head (minilm-l6, arctic-xs) gets a new one, initialised as HF's _init_weights
        // does; a checkpoint that has part of the head must have all of it.
        var predictions = cls.Push("predictions");
        if (!Root.Has(PredictionsPath + "transform.dense.weight")) predictions = predictions.InitMissing();
        _head = new MaskedLmHead(predictions, config, Bert.WordEmbeddings);
        if (nextSentence)
        {
            var seq = cls.Push("seq_relationship");
            if (!Root.Has("cls.seq_relationship.weight")) seq = seq.InitMissing();
            _seqRelationship = new Linear(seq, config.HiddenSize, 2);
        }
    }

    /// <summary>Number of vocabulary entries the head scores.</summary>
    public int VocabSize => Config.VocabSize;

    /// <summary>Whether the model also has the next-sentence head (<see cref="BertForPreTraining"/>).</summary>
    public bool HasNextSentenceHead => _seqRelationship is not null;

    /// <summary>
    /// Vocabulary logits at chosen positions only (evaluation mode): <paramref name="positions"/> are flat indices
    /// b·T + t into the padded batch; the result is (positions, vocab). Fill-mask needs the [MASK] rows alone,
    /// which saves the vocab-sized product at every other token.
    /// </summary>
    public float[] MaskedLogits(BertInput input, IReadOnlyList<int> positions) => Score(input, positions, nextSentence: null);

    /// <summary>The next-sentence logits (batch, 2) in evaluation mode: index 0 "is next", 1 "is random".</summary>
    /// <exception cref="InvalidOperationException">The model has no next-sentence head.</exception>
    public float[] NextSentenceLogits(BertInput input)
    {
        if (_seqRelationship is null) throw new InvalidOperationException($"{GetType().Name} has no next-sentence head (cls.seq_relationship)");
        var nsp = new float[input.BatchSize * 2];
        Score(input, [], nsp);
        return nsp;
    }

    /// <summary>Masked-LM logits at <paramref name="positions"/> and, when <paramref name="nextSentence"/> is given, the next-sentence logits into it.</summary>
    internal float[] Score(BertInput input, IReadOnlyList<int> positions, float[]? nextSentence)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(positions);
        int N = input.BatchSize * input.SequenceLength, C = Config.HiddenSize, R = positions.Count;
        var ws = Bert.RentWorkspace();
        try
        {
            Bert.Forward(input, ws, dropout: null);
            var x = new float[R * C];
            for (int r = 0; r < R; r++)
            {
                if ((uint)positions[r] >= (uint)N) throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[r]} is outside the batch's {N} tokens");
                ws.LastHidden.AsSpan(positions[r] * C, C).CopyTo(x.AsSpan(r * C, C));
            }
            var logits = new float[R * VocabSize];
            if (R > 0) _head.Forward(x, R, logits, new MaskedLmHead.Scratch(), training: false);
            if (nextSentence is not null && _seqRelationship is not null) _seqRelationship.Forward(ws.Pooled, C, nextSentence, input.BatchSize);
            return logits;
        }
        finally
        {
            Bert.ReturnWorkspace(ws);
        }
    }

    internal override int[] OutputShape(int batch, int sequence) => [batch, sequence, VocabSize];

    // Training scores the vocabulary only at the masked positions: HF's head computes every token's logits and
    // its loss then ignores all but the ~15% masked, so the result is the same while the [tokens × vocab] product —
    // the largest in the model for a small encoder (30522 × 384 per token for minilm-l6) — shrinks about 7-fold.
    internal override int TrainOutputLength(TaskBatch batch)
    {
        int B = batch.Input.BatchSize, N = B * batch.Input.SequenceLength;
        int expected = N + (HasNextSentenceHead ? B : 0);
        if (batch.Labels.Length != expected)
            throw new ArgumentException($"{batch.Labels.Length} labels for a batch of {N} tokens" + (HasNextSentenceHead ? $" and {B} next-sentence labels" : ""));
        var rows = new List<int>();
        var labels = new List<int>();
        for (int i = 0; i < N; i++)
        {
            if (batch.Labels[i] == IgnoreIndex) continue;
            rows.Add(i);
            labels.Add(batch.Labels[i]);
        }
        (_rows, _rowLabels) = ([.. rows], [.. labels]);
        return _rows.Length * VocabSize + (HasNextSentenceHead ? 2 * B : 0);
    }

    internal override void HeadForward(BertWorkspace ws, Span<float> output, DropoutStream? dropout)
    {
        int B = ws.BatchSize, N = B * ws.SequenceLength, C = Config.HiddenSize;
        if (!ws.Training)
        {
            // Inference: every token, with a scratch of this call's own (other threads may be here too).
            _head.Forward(ws.LastHidden, N, output, new MaskedLmHead.Scratch(), training: false);
            return;
        }
        int R = _rows.Length;
        Buffers.Ensure(ref _x, R * C);
        for (int r = 0; r < R; r++) ws.LastHidden.AsSpan(_rows[r] * C, C).CopyTo(_x.AsSpan(r * C, C));
        if (R > 0) _head.Forward(_x, R, output[..(R * VocabSize)], _trainScratch, training: true);
        _seqRelationship?.Forward(ws.Pooled, C, output.Slice(R * VocabSize, 2 * B), B);
    }

    // The masked-LM term is a mean over masked tokens, the next-sentence term one over rows.
    internal override double[] LossDenominators(TaskBatch batch)
    {
        int B = batch.Input.BatchSize, masked = Counted(batch.Labels.AsSpan(0, B * batch.Input.SequenceLength));
        return HasNextSentenceHead ? [masked, B] : [masked];
    }

    private protected override bool HeadAppliesLossShares => true;

    internal override float HeadLoss(TaskBatch batch, ReadOnlySpan<float> output, Span<float> dOutput, float scale)
    {
        int R = _rows.Length, V = VocabSize, B = batch.Input.BatchSize, N = B * batch.Input.SequenceLength;
        foreach (var id in _rowLabels)
            if ((uint)id >= (uint)V) throw new ArgumentException($"masked-LM label {id} is outside the vocabulary [0, {V})");
        // A data-parallel slice weighs each term by its share of the whole's (1 and unchanged in a whole batch).
        float mlmShare = batch.LossShares is { } shares ? (float)shares[0] : 1, nspShare = batch.LossShares is { Length: 2 } both ? (float)both[1] : 1;
        float loss = mlmShare * CrossEntropy.Compute(output[..(R * V)], R, V, _rowLabels, [], dOutput.IsEmpty ? default : dOutput[..(R * V)], scale * mlmShare);
        if (HasNextSentenceHead)
            loss += nspShare * CrossEntropy.Compute(output.Slice(R * V, 2 * B), B, 2, batch.Labels.AsSpan(N, B), [],
                dOutput.IsEmpty ? default : dOutput.Slice(R * V, 2 * B), scale * nspShare);
        return loss;
    }

    internal override void HeadBackward(BertWorkspace ws, ReadOnlySpan<float> dOutput, float[] dLastHidden, float[] dPooled)
    {
        int R = _rows.Length, C = Config.HiddenSize, B = ws.BatchSize;
        if (R > 0)
        {
            Buffers.Ensure(ref _dx, R * C);
            _head.Backward(_x, R, dOutput[..(R * VocabSize)], _dx, _trainScratch);
            // ∂loss/∂hidden is zero at every unmasked token.
            for (int r = 0; r < R; r++) _dx.AsSpan(r * C, C).CopyTo(dLastHidden.AsSpan(_rows[r] * C, C));
        }
        _seqRelationship?.Backward(ws.Pooled, C, dOutput.Slice(R * VocabSize, 2 * B), dPooled, C, B, accumulateDx: false);
    }

    // The graph's outputs are HF's: "logits" (batch, sequence, vocab) — BertForPreTraining's prediction_logits under
    // the name OnnxRuntimeModel and fill-mask read — and, with the next-sentence head, "seq_relationship_logits" (batch, 2).
    internal override void ExportHead(OnnxExporterGraph graph, string lastHidden)
    {
        var transformed = graph.HeadLayerNorm(graph.Gelu(graph.HeadLinear3D(lastHidden, PredictionsPath + "transform.dense")), PredictionsPath + "transform.LayerNorm");
        var decoder = Config.TieWordEmbeddings == false ? PredictionsPath + "decoder.weight" : StateDict.EncoderPrefix + "embeddings.word_embeddings.weight";
        graph.Rename(graph.HeadLinearTransposed(transformed, decoder, PredictionsPath + "bias"), "logits");
        graph.Output("logits", "batch", "sequence", VocabSize);
        if (!HasNextSentenceHead) return;
        graph.Rename(graph.HeadLinear(graph.Pooler(lastHidden), "cls.seq_relationship"), "seq_relationship_logits");
        graph.Output("seq_relationship_logits", "batch", 2);
    }

    // HF's checkpoints hold the decoder as cls.predictions.decoder.{weight,bias}: the weight, when tied and stored at
    // all, is the word-embedding matrix again (HF re-ties it after loading), and the bias is cls.predictions.bias under
    // a second name. Both are dropped for the one tensor each the model keeps; an untied weight is the decoder's own.
    private static StateDict Normalize(StateDict weights, bool tied)
    {
        var result = new StateDict { Source = weights.Source };
        foreach (var (name, tensor) in weights)
        {
            if (tied && name.EndsWith(PredictionsPath + "decoder.weight", StringComparison.Ordinal)) continue;
            if (name.EndsWith(PredictionsPath + "decoder.bias", StringComparison.Ordinal))
            {
                var bias = name[..^"decoder.bias".Length] + "bias";
                if (!weights.ContainsKey(bias)) result[bias] = tensor;
                continue;
            }
            result[name] = tensor;
        }
        return result;
    }
}
