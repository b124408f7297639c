using System.Numerics;
using System.Runtime.InteropServices;
using BertSharp.Model;

namespace BertSharp.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter) with PyTorch's update order: decoupled decay w -= lr·λ·w first, then the
/// bias-corrected Adam step. Decay applies only to parameters that ask for it (not biases, not
/// LayerNorm), as Hugging Face's Trainer groups them.
/// </summary>
internal sealed class AdamW
{
    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly float[][] _m;
    private readonly float[][] _v;

    public AdamW(IReadOnlyList<Parameter> parameters, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0.01f)
    {
        _parameters = parameters;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        _m = parameters.Select(p => new float[p.Value.Length]).ToArray();
        _v = parameters.Select(p => new float[p.Value.Length]).ToArray();
    }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public float WeightDecay { get; }

    /// <summary>Updates taken so far; bias correction uses it, so it is part of the checkpoint.</summary>
    public int StepCount { get; set; }

    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>First and second moment of parameter i, for checkpoints.</summary>
    public (float[] M, float[] V) Moments(int i) => (_m[i], _v[i]);

    public void Step(float learningRate)
    {
        StepCount++;
        float bc1 = 1 - MathF.Pow(Beta1, StepCount);
        float bc2 = 1 - MathF.Pow(Beta2, StepCount);
        Parallel.For(0, _parameters.Count, i =>
        {
            var p = _parameters[i];
            float decay = p.ApplyWeightDecay ? WeightDecay : 0f;
            Update(p.Value.Data, p.Grad, _m[i], _v[i], learningRate, decay, Beta1, Beta2, Epsilon, bc1, bc2);
        });
    }

    /// <summary>One AdamW update of a parameter buffer; vectorised because it touches every weight each step.</summary>
    internal static void Update(
        Span<float> w, ReadOnlySpan<float> g, Span<float> m, Span<float> v,
        float lr, float weightDecay, float beta1, float beta2, float epsilon, float biasCorrection1, float biasCorrection2)
    {
        float decayFactor = 1 - lr * weightDecay;
        float stepSize = lr / biasCorrection1;
        float rsqrtBc2 = 1 / MathF.Sqrt(biasCorrection2);
        int i = 0;
        if (Vector.IsHardwareAccelerated && w.Length >= Vector<float>.Count)
        {
            var wv = MemoryMarshal.Cast<float, Vector<float>>(w);
            var gv = MemoryMarshal.Cast<float, Vector<float>>(g);
            var mv = MemoryMarshal.Cast<float, Vector<float>>(m);
            var vv = MemoryMarshal.Cast<float, Vector<float>>(v);
            var b1 = new Vector<float>(beta1);
            var b2 = new Vector<float>(beta2);
            var ob1 = new Vector<float>(1 - beta1);
            var ob2 = new Vector<float>(1 - beta2);
            var eps = new Vector<float>(epsilon);
            var df = new Vector<float>(decayFactor);
            var ss = new Vector<float>(stepSize);
            var rb2 = new Vector<float>(rsqrtBc2);
            for (int j = 0; j < wv.Length; j++)
            {
                var gj = gv[j];
                var mj = b1 * mv[j] + ob1 * gj;
                var vj = b2 * vv[j] + ob2 * gj * gj;
                mv[j] = mj;
                vv[j] = vj;
                wv[j] = wv[j] * df - ss * mj / (Vector.SquareRoot(vj) * rb2 + eps);
            }
            i = wv.Length * Vector<float>.Count;
        }
        for (; i < w.Length; i++)
        {
            float gi = g[i];
            float mi = beta1 * m[i] + (1 - beta1) * gi;
            float vi = beta2 * v[i] + (1 - beta2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] = w[i] * decayFactor - stepSize * mi / (MathF.Sqrt(vi) * rsqrtBc2 + epsilon);
        }
    }
}
