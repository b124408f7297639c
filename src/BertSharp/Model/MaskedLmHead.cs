using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's <c>BertLMPredictionHead</c> (path <c>cls.predictions</c>): <c>transform.dense</c> → GELU →
/// <c>transform.LayerNorm</c>, then the decoder, whose weight is the encoder's word-embedding matrix (tied, one
/// <see cref="Parameter"/>; a weight of its own with <c>tie_word_embeddings: false</c>), plus
/// <c>cls.predictions.bias</c>: logits = LN(gelu(h W₁ᵀ + b₁)) Eᵀ + b.
/// </summary>
internal sealed class MaskedLmHead
{
    private readonly Linear _dense;
    private readonly LayerNorm _norm;
    private readonly WeightState _state;
    private readonly int _hidden, _vocab;

    public MaskedLmHead(WeightBuilder predictions, BertConfig config, Parameter wordEmbeddings)
    {
        _hidden = config.HiddenSize;
        _vocab = config.VocabSize;
        _state = predictions.State;
        var transform = predictions.Push("transform");
        _dense = new Linear(transform.Push("dense"), _hidden, _hidden);
        _norm = new LayerNorm(transform.Push("LayerNorm"), _hidden, config.LayerNormEps);
        Decoder = config.TieWordEmbeddings == false
            ? predictions.Push("decoder").Get("weight", [_vocab, _hidden], WeightInit.Normal, applyWeightDecay: true)
            : wordEmbeddings;
        Bias = predictions.Get("bias", [_vocab], WeightInit.Zeros, applyWeightDecay: false);
    }

    /// <summary>The decoder weight (vocab, hidden): the word embeddings themselves unless the config unties them.</summary>
    public Parameter Decoder { get; }

    /// <summary>The decoder's bias, one per vocabulary entry (<c>cls.predictions.bias</c>).</summary>
    public Parameter Bias { get; }

    /// <summary>
    /// x (rows, hidden, dense) → logits (rows, vocab). With <paramref name="training"/> the scratch keeps what
    /// <see cref="Backward"/> needs; inference passes a scratch of its own, so calls may run concurrently.
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, int rows, Span<float> logits, Scratch s, bool training)
    {
        int C = _hidden, n = rows * C;
        s.Ensure(n, rows);
        _dense.Forward(x, C, s.Pre, rows);
        if (training) Kernels.GeluWithDerivative(s.Pre.AsSpan(0, n), s.Activated.AsSpan(0, n));
        else Kernels.Gelu(s.Pre.AsSpan(0, n), s.Activated.AsSpan(0, n));
        _norm.Forward(s.Activated, s.Normed, s.Mean, s.Rstd, rows);
        _state.MatMul.Multiply(false, true, rows, _vocab, C, 1f, s.Normed, C, Decoder.Value.Data, C, Bias.Value.Data, 0f, logits, _vocab);
    }

    /// <summary>After a training <see cref="Forward"/> on the same x: adds the head's gradients (the tied decoder's into the word embeddings') and writes dx (rows, hidden).</summary>
    public void Backward(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> dLogits, Span<float> dx, Scratch s)
    {
        int C = _hidden, n = rows * C;
        s.EnsureBackward(n);
        Kernels.BiasBackward(dLogits[..(rows * _vocab)], Bias.Grad, rows, _vocab);
        _state.MatMul.LinearBackward(rows, C, _vocab, s.Normed, C, dLogits, _vocab, Decoder.Value.Data, 1f, Decoder.Grad, s.DNormed, C, accumulateDx: false);
        _norm.Backward(s.DNormed, s.Activated, s.Mean, s.Rstd, s.DActivated, rows);
        // s.Pre holds GELU′ of the pre-activation after a training forward.
        Kernels.MaskBiasBackward(s.DActivated.AsSpan(0, n), s.Pre.AsSpan(0, n), s.DActivated.AsSpan(0, n), _dense.Bias.Grad, rows, C);
        _dense.BackwardWeights(x, C, s.DActivated, C, dx, C, rows, accumulateDx: false);
    }

    /// <summary>The head's activations; one per concurrent forward pass.</summary>
    internal sealed class Scratch
    {
        public float[] Pre = [], Activated = [], Normed = [], Mean = [], Rstd = [], DNormed = [], DActivated = [];

        public void Ensure(int n, int rows)
        {
            Buffers.Ensure(ref Pre, n);
            Buffers.Ensure(ref Activated, n);
            Buffers.Ensure(ref Normed, n);
            Buffers.Ensure(ref Mean, rows);
            Buffers.Ensure(ref Rstd, rows);
        }

        public void EnsureBackward(int n)
        {
            Buffers.Ensure(ref DNormed, n);
            Buffers.Ensure(ref DActivated, n);
        }
    }
}
