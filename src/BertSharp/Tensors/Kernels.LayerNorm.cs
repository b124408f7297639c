using System.Runtime.Intrinsics;

namespace BertSharp.Tensors;

// LayerNorm and residual-add LayerNorm, forward and backward.
internal static unsafe partial class Kernels
{
    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta per row; saves mean and rstd (length rows) for backward.
    /// y may alias x.
    /// </summary>
    public static void LayerNorm(
        ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y,
        Span<float> mean, Span<float> rstd, int rows, int cols, float eps)
    {
        CheckLayerNorm(x.Length, gamma.Length, beta.Length, y.Length, mean.Length, rstd.Length, rows, cols);
        fixed (float* px = x, pg = gamma, pb = beta, py = y, pm = mean, pr = rstd)
        {
            var job = new RowJob { X = px, Y = py, Z = pg, W = pb, U = pm, V = pr, Cols = cols, F0 = eps };
            RowParallel.For(rows, cols, ref job, &LayerNormRows);
        }
    }

    /// <summary>
    /// Residual add + layer norm: sum = x + residual (saved: it is the layer norm's input for
    /// <see cref="LayerNormBackward"/>), then y = LayerNorm(sum) with mean and rstd saved.
    /// sum may alias x or residual; y may alias sum only when the sum is not needed afterwards.
    /// </summary>
    public static void AddLayerNorm(
        ReadOnlySpan<float> x, ReadOnlySpan<float> residual, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta,
        Span<float> sum, Span<float> y, Span<float> mean, Span<float> rstd, int rows, int cols, float eps)
    {
        CheckLayerNorm(x.Length, gamma.Length, beta.Length, y.Length, mean.Length, rstd.Length, rows, cols);
        Need(residual.Length, rows, cols, nameof(residual));
        Need(sum.Length, rows, cols, nameof(sum));
        fixed (float* px = x, pres = residual, pg = gamma, pb = beta, ps = sum, py = y, pm = mean, pr = rstd)
        {
            var job = new RowJob { X = ps, Y = py, Z = pg, W = pb, U = pm, V = pr, S = px, T = pres, Cols = cols, F0 = eps };
            RowParallel.For(rows, cols, ref job, &LayerNormRows);
        }
    }

    private static void CheckLayerNorm(int x, int gamma, int beta, int y, int mean, int rstd, int rows, int cols)
    {
        Need(x, rows, cols, nameof(x));
        Need(gamma, 1, cols, nameof(gamma));
        Need(beta, 1, cols, nameof(beta));
        Need(y, rows, cols, nameof(y));
        Need(mean, rows, 1, nameof(mean));
        Need(rstd, rows, 1, nameof(rstd));
    }

    // X = input (or, with S/T set, the place for S + T), Y = output, Z/W = gamma/beta, U/V = mean/rstd.
    private static void LayerNormRows(ref RowJob j, int chunk, int r0, int r1)
    {
        int n = j.Cols, end = VectorEnd(n);
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, y = j.Y + o;
            if (j.S != null) AddTo(j.S + o, j.T + o, x, n);
            float mu = Sum(x, n) / n;
            var vmu = Vector512.Create(mu);
            var acc = Vector512<float>.Zero;
            int c = 0;
            for (; c < end; c += 16)
            {
                var d = Vector512.Load(x + c) - vmu;
                acc = Vector512.FusedMultiplyAdd(d, d, acc);
            }
            float var = Vector512.Sum(acc);
            for (; c < n; c++) var += (x[c] - mu) * (x[c] - mu);
            float rs = (float)(1 / Math.Sqrt(var / n + j.F0));
            j.U[r] = mu;
            j.V[r] = rs;
            var vrs = Vector512.Create(rs);
            for (c = 0; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                Vector512.FusedMultiplyAdd(xhat, Vector512.Load(j.Z + c), Vector512.Load(j.W + c)).Store(y + c);
            }
            for (; c < n; c++) y[c] = (x[c] - mu) * rs * j.Z[c] + j.W[c];
        }
    }

    /// <summary>dx = layer-norm backward; dGamma and dBeta accumulate. dx may alias dy.</summary>
    public static void LayerNormBackward(
        ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> gamma, Span<float> dx, Span<float> dGamma, Span<float> dBeta, int rows, int cols)
    {
        Need(dy.Length, rows, cols, nameof(dy));
        Need(x.Length, rows, cols, nameof(x));
        Need(mean.Length, rows, 1, nameof(mean));
        Need(rstd.Length, rows, 1, nameof(rstd));
        Need(gamma.Length, 1, cols, nameof(gamma));
        Need(dx.Length, rows, cols, nameof(dx));
        Need(dGamma.Length, 1, cols, nameof(dGamma));
        Need(dBeta.Length, 1, cols, nameof(dBeta));
        fixed (float* pdy = dy, px = x, pm = mean, pr = rstd, pg = gamma, pdx = dx, pdg = dGamma, pdb = dBeta)
        {
            var job = new RowJob { X = px, Y = pdy, Z = pg, U = pm, V = pr, W = pdx, G0 = pdg, G1 = pdb, Cols = cols };
            RowParallel.ForAccumulating(rows, cols, ref job, &LayerNormBackwardRows);
        }
    }

    private static void LayerNormBackwardRows(ref RowJob j, int chunk, int r0, int r1)
    {
        int n = j.Cols, end = VectorEnd(n);
        float* dGamma = j.G0 + chunk * j.GStride, dBeta = j.G1 + chunk * j.GStride, gamma = j.Z;
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, dy = j.Y + o, dx = j.W + o;
            float mu = j.U[r], rs = j.V[r];
            var vmu = Vector512.Create(mu);
            var vrs = Vector512.Create(rs);
            Vector512<float> accG = default, accGX = default;
            int c = 0;
            for (; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                var d = Vector512.Load(dy + c);
                var g = d * Vector512.Load(gamma + c);
                accG += g;
                accGX = Vector512.FusedMultiplyAdd(g, xhat, accGX);
                Vector512.FusedMultiplyAdd(d, xhat, Vector512.Load(dGamma + c)).Store(dGamma + c);
                (Vector512.Load(dBeta + c) + d).Store(dBeta + c);
            }
            float sumG = Vector512.Sum(accG), sumGX = Vector512.Sum(accGX);
            for (; c < n; c++)
            {
                float xhat = (x[c] - mu) * rs, g = dy[c] * gamma[c];
                sumG += g;
                sumGX += g * xhat;
                dGamma[c] += dy[c] * xhat;
                dBeta[c] += dy[c];
            }
            // dx = rs·g − rs·mean(g) − xhat·rs·mean(g·xhat)
            float a = rs * sumG / n, b = rs * sumGX / n;
            var va = Vector512.Create(a);
            var vb = Vector512.Create(b);
            for (c = 0; c < end; c += 16)
            {
                var xhat = (Vector512.Load(x + c) - vmu) * vrs;
                var g = Vector512.Load(dy + c) * Vector512.Load(gamma + c);
                (g * vrs - va - xhat * vb).Store(dx + c);
            }
            for (; c < n; c++) dx[c] = dy[c] * gamma[c] * rs - a - (x[c] - mu) * rs * b;
        }
    }
}
