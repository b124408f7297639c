using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>
/// An independent fp64 BERT forward pass written straight from Hugging Face's modeling_bert.py
/// (plain loops, no shared code with the library), the truth the encoder is compared against.
/// </summary>
internal static class ReferenceBert
{
    public sealed record Result(double[,,] LastHidden, double[,]? Pooled, List<double[,,,]> Attentions, List<double[,,]> HiddenStates);

    public static Result Forward(BertConfig cfg, StateDict w, BertInput input)
    {
        int B = input.BatchSize, T = input.SequenceLength, C = cfg.HiddenSize, H = cfg.NumAttentionHeads, d = C / H;
        var h = new double[B, T, C];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int n = b * T + t;
                var row = new double[C];
                for (int c = 0; c < C; c++)
                    row[c] = W(w, "embeddings.word_embeddings.weight", input.InputIds[n], c, C)
                        + W(w, "embeddings.position_embeddings.weight", t, c, C)
                        + W(w, "embeddings.token_type_embeddings.weight", input.TokenTypeIds[n], c, C);
                Set(h, b, t, LayerNorm(row, w, "embeddings.LayerNorm", cfg.LayerNormEps));
            }
        var attentions = new List<double[,,,]>();
        var hiddenStates = new List<double[,,]> { h };
        for (int l = 0; l < cfg.NumHiddenLayers; l++)
        {
            string p = $"encoder.layer.{l}.";
            var probs = new double[B, H, T, T];
            var next = new double[B, T, C];
            for (int b = 0; b < B; b++)
            {
                var q = new double[T][];
                var k = new double[T][];
                var v = new double[T][];
                for (int t = 0; t < T; t++)
                {
                    var x = Get(h, b, t);
                    q[t] = Linear(x, w, p + "attention.self.query");
                    k[t] = Linear(x, w, p + "attention.self.key");
                    v[t] = Linear(x, w, p + "attention.self.value");
                }
                var context = new double[T][];
                for (int t = 0; t < T; t++) context[t] = new double[C];
                for (int head = 0; head < H; head++)
                    for (int i = 0; i < T; i++)
                    {
                        var scores = new double[T];
                        for (int j = 0; j < T; j++)
                        {
                            double s = 0;
                            for (int e = 0; e < d; e++) s += q[i][head * d + e] * k[j][head * d + e];
                            scores[j] = s / Math.Sqrt(d) + (input.AttentionMask[b * T + j] == 0 ? -1e30 : 0);
                        }
                        double max = scores.Max(), sum = 0;
                        for (int j = 0; j < T; j++) sum += Math.Exp(scores[j] - max);
                        for (int j = 0; j < T; j++)
                        {
                            double pr = Math.Exp(scores[j] - max) / sum;
                            probs[b, head, i, j] = pr;
                            for (int e = 0; e < d; e++) context[i][head * d + e] += pr * v[j][head * d + e];
                        }
                    }
                for (int t = 0; t < T; t++)
                {
                    var x = Get(h, b, t);
                    var a = Linear(context[t], w, p + "attention.output.dense");
                    for (int c = 0; c < C; c++) a[c] += x[c];
                    a = LayerNorm(a, w, p + "attention.output.LayerNorm", cfg.LayerNormEps);
                    var inter = Linear(a, w, p + "intermediate.dense");
                    for (int i = 0; i < inter.Length; i++) inter[i] = 0.5 * inter[i] * (1 + Erf(inter[i] / Math.Sqrt(2)));
                    var o = Linear(inter, w, p + "output.dense");
                    for (int c = 0; c < C; c++) o[c] += a[c];
                    Set(next, b, t, LayerNorm(o, w, p + "output.LayerNorm", cfg.LayerNormEps));
                }
            }
            h = next;
            hiddenStates.Add(h);
            attentions.Add(probs);
        }
        double[,]? pooled = null;
        if (w.ContainsKey("pooler.dense.weight"))
        {
            pooled = new double[B, C];
            for (int b = 0; b < B; b++)
            {
                var y = Linear(Get(h, b, 0), w, "pooler.dense");
                for (int c = 0; c < C; c++) pooled[b, c] = Math.Tanh(y[c]);
            }
        }
        return new Result(h, pooled, attentions, hiddenStates);
    }

    private static double W(StateDict w, string name, int row, int col, int cols) => w[name].Data[row * cols + col];

    private static double[] Linear(double[] x, StateDict w, string prefix)
    {
        var weight = w[prefix + ".weight"];
        int outF = weight.Shape[0], inF = weight.Shape[1];
        var y = new double[outF];
        for (int o = 0; o < outF; o++)
        {
            double s = w[prefix + ".bias"].Data[o];
            for (int i = 0; i < inF; i++) s += x[i] * weight.Data[o * inF + i];
            y[o] = s;
        }
        return y;
    }

    private static double[] LayerNorm(double[] x, StateDict w, string prefix, double eps)
    {
        double mean = x.Average(), var = x.Select(v => (v - mean) * (v - mean)).Average();
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = (x[i] - mean) / Math.Sqrt(var + eps) * w[prefix + ".weight"].Data[i] + w[prefix + ".bias"].Data[i];
        return y;
    }

    // erf: Maclaurin series below 3 (terms stay small, so no cancellation), the continued fraction
    // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) above.
    internal static double Erf(double x)
    {
        double ax = Math.Abs(x);
        if (ax >= 3)
        {
            double k = ax;
            for (int n = 80; n >= 1; n--) k = ax + n / 2.0 / k;
            return Math.Sign(x) * (1 - Math.Exp(-ax * ax) / (Math.Sqrt(Math.PI) * k));
        }
        double sum = 0, term = ax;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -ax * ax / (n + 1);
            if (Math.Abs(term) < 1e-18) break;
        }
        return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static double[] Get(double[,,] a, int b, int t)
    {
        var r = new double[a.GetLength(2)];
        for (int c = 0; c < r.Length; c++) r[c] = a[b, t, c];
        return r;
    }

    private static void Set(double[,,] a, int b, int t, double[] v)
    {
        for (int c = 0; c < v.Length; c++) a[b, t, c] = v[c];
    }
}
