using System.Diagnostics;
using System.Globalization;
using BertSharp.Tensors;

namespace BertSharp.Bench;

/// <summary>
/// Fused kernels at BERT's shapes (4096 tokens, batch 32 × seq 128 unless <c>kernels [seconds] [threads] [seq]</c>
/// names another length; MiniLM: hidden 384, intermediate 1536, 12 heads of 32), each against a peer in the same process: the original
/// scalar reference loops of the kernel contract, and for attention the unfused composition
/// (batched GEMM, softmax, batched GEMM) over a materialised score tensor.
/// </summary>
internal static class KernelBench
{
    public static int Run(string[] args)
    {
        double seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1.0;
        if (args.Length > 1) Gemm.MaxThreads = int.Parse(args[1], CultureInfo.InvariantCulture);
        int seq = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 128;
        int tokens = 4096, hidden = 384, inter = 1536, heads = 12, dh = 32, batch = tokens / seq;
        var rng = new Random(1);
        var x = Fill(rng, tokens * inter, 3);
        var y = new float[tokens * inter];
        var h = Fill(rng, tokens * hidden, 2);
        var res = Fill(rng, tokens * hidden, 1);
        var hy = new float[tokens * hidden];
        var gamma = Fill(rng, hidden, 1);
        var beta = Fill(rng, hidden, 1);
        var mean = new float[tokens];
        var rstd = new float[tokens];
        int scoreRows = batch * heads * seq;
        var scores = Fill(rng, scoreRows * seq, 5);
        var work = new float[scores.Length];
        Console.WriteLine($"threads: {Gemm.MaxThreads}; best of repeated runs, milliseconds per call");
        Console.WriteLine($"{"kernel",-44} {"ours",9} {"peer",9} {"speed-up",9}");

        Row($"GELU [{tokens}x{inter}]", seconds,
            () => Kernels.Gelu(x, y),
            () => ReferenceGelu(x, y));
        // Training's forward keeps GELU′ for backward; the peer computes GELU and then the derivative
        // as a backward pass would from the pre-activation.
        var xd = (float[])x.Clone();
        var d = new float[x.Length];
        Row($"GELU + GELU′ [{tokens}x{inter}] vs GELU, GELU backward", seconds,
            () => { x.CopyTo(xd, 0); Kernels.GeluWithDerivative(xd, y); },
            () => { ReferenceGelu(x, y); Array.Fill(d, 1f); ReferenceGeluBackward(x, d, d); });
        Row($"residual + layer norm [{tokens}x{hidden}]", seconds,
            () => Kernels.AddLayerNorm(h, res, gamma, beta, hy, hy, mean, rstd, tokens, hidden, 1e-12f),
            () => { for (int i = 0; i < hy.Length; i++) hy[i] = h[i] + res[i]; ReferenceLayerNorm(hy, gamma, beta, hy, mean, rstd, tokens, hidden, 1e-12f); });
        var dGamma = new float[hidden];
        var dBeta = new float[hidden];
        Row($"layer norm backward [{tokens}x{hidden}]", seconds,
            () => Kernels.LayerNormBackward(res, h, mean, rstd, gamma, hy, dGamma, dBeta, tokens, hidden),
            () => ReferenceLayerNormBackward(res, h, mean, rstd, gamma, hy, dGamma, dBeta, tokens, hidden));
        Row($"softmax [{scoreRows}x{seq}]", seconds,
            () => { scores.CopyTo(work, 0); Kernels.SoftmaxRows(work, scoreRows, seq); },
            () => { scores.CopyTo(work, 0); ReferenceSoftmax(work, scoreRows, seq); });

        int ld = 3 * hidden;
        var qkv = Fill(rng, tokens * ld, 1);
        var ctx = new float[tokens * hidden];
        var probs = new float[scoreRows * seq];
        var valid = Enumerable.Repeat(seq, batch).ToArray();
        var padded = Enumerable.Range(0, batch).Select(b => Math.Min(seq, 32 + b * 96 / batch)).ToArray();
        float scale = 1 / MathF.Sqrt(dh);
        var head = new BatchStrides((long)seq * ld, dh);
        void Unfused()
        {
            Gemm.MultiplyBatched(false, true, seq, seq, dh, scale, qkv, ld, head, qkv.AsSpan(hidden), ld, head,
                0, probs, seq, new BatchStrides((long)heads * seq * seq, seq * seq), batch, heads);
            Kernels.SoftmaxRows(probs, scoreRows, seq);
            Gemm.MultiplyBatched(false, false, seq, dh, seq, 1, probs, seq, new BatchStrides((long)heads * seq * seq, seq * seq),
                qkv.AsSpan(2 * hidden), ld, head, 0, ctx, hidden, new BatchStrides((long)seq * hidden, dh), batch, heads);
        }
        Row($"attention fwd b{batch} s{seq} h{heads}x{dh} vs unfused", seconds,
            () => Attention.Forward(qkv, qkv.AsSpan(hidden), qkv.AsSpan(2 * hidden), ld, ctx, hidden, probs, batch, seq, heads, dh, scale, valid),
            Unfused);
        Row($"  … no probabilities kept (inference)", seconds,
            () => Attention.Forward(qkv, qkv.AsSpan(hidden), qkv.AsSpan(2 * hidden), ld, ctx, hidden, default, batch, seq, heads, dh, scale, valid),
            Unfused);
        Row($"  … lengths {padded.Min()}..{padded.Max()} (padding skipped)", seconds,
            () => Attention.Forward(qkv, qkv.AsSpan(hidden), qkv.AsSpan(2 * hidden), ld, ctx, hidden, probs, batch, seq, heads, dh, scale, padded),
            Unfused);
        var grad = new float[tokens * ld];
        Row($"attention bwd b{batch} s{seq} h{heads}x{dh}", seconds,
            () => Attention.Backward(qkv, qkv.AsSpan(hidden), qkv.AsSpan(2 * hidden), ld, probs, ctx, hidden,
                grad, grad.AsSpan(hidden), grad.AsSpan(2 * hidden), ld, batch, seq, heads, dh, scale, valid),
            null);
        return 0;
    }

    private static void Row(string name, double seconds, Action ours, Action? peer)
    {
        double a = Time(ours, seconds);
        if (peer is null)
        {
            Console.WriteLine($"{name,-44} {a,9:F2} {"-",9} {"-",9}");
            return;
        }
        double b = Time(peer, seconds);
        Console.WriteLine($"{name,-44} {a,9:F2} {b,9:F2} {b / a,8:F1}x");
    }

    private static double Time(Action run, double seconds)
    {
        run();
        double best = double.MaxValue, total = 0;
        for (int reps = 0; total < seconds || reps < 3; reps++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            double dt = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Min(best, dt);
            total += dt;
        }
        return best * 1e3;
    }

    private static float[] Fill(Random rng, int count, double scale)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return x;
    }

    // Peers: the kernel contract's original reference loops.
    private static void ReferenceGelu(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = (float)(0.5 * x[i] * (1 + Kernels.Erf(x[i] / Math.Sqrt(2))));
    }

    private static void ReferenceGeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double cdf = 0.5 * (1 + Kernels.Erf(v / Math.Sqrt(2)));
            double pdf = Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
            dx[i] = (float)(dy[i] * (cdf + v * pdf));
        }
    }

    private static void ReferenceLayerNorm(
        ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y,
        Span<float> mean, Span<float> rstd, int rows, int cols, float eps)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            double mu = 0;
            foreach (var v in row) mu += v;
            mu /= cols;
            double var = 0;
            foreach (var v in row) var += (v - mu) * (v - mu);
            var /= cols;
            double rs = 1.0 / Math.Sqrt(var + eps);
            mean[r] = (float)mu;
            rstd[r] = (float)rs;
            for (int c = 0; c < cols; c++)
                y[r * cols + c] = (float)((row[c] - mu) * rs * gamma[c] + beta[c]);
        }
    }

    private static void ReferenceLayerNormBackward(
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> gamma, Span<float> dx, Span<float> dGamma, Span<float> dBeta, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            double mu = mean[r], rs = rstd[r];
            double sumDyG = 0, sumDyGXhat = 0;
            for (int c = 0; c < cols; c++)
            {
                double xhat = (x[r * cols + c] - mu) * rs;
                double g = dy[r * cols + c] * gamma[c];
                sumDyG += g;
                sumDyGXhat += g * xhat;
                dGamma[c] += (float)(dy[r * cols + c] * xhat);
                dBeta[c] += dy[r * cols + c];
            }
            for (int c = 0; c < cols; c++)
            {
                double xhat = (x[r * cols + c] - mu) * rs;
                double g = dy[r * cols + c] * gamma[c];
                dx[r * cols + c] = (float)(rs * (g - sumDyG / cols - xhat * sumDyGXhat / cols));
            }
        }
    }

    private static void ReferenceSoftmax(Span<float> x, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            double sum = 0;
            for (int c = 0; c < cols; c++) { row[c] = MathF.Exp(row[c] - max); sum += row[c]; }
            float inv = (float)(1 / sum);
            for (int c = 0; c < cols; c++) row[c] *= inv;
        }
    }
}
