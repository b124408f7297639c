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
            RowParallel.For(rows, cols, ref job, ForWidth(&LayerNormRows<Vec512>, &LayerNormRows<Vec256>, &LayerNormRows<Vec128>));
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
            RowParallel.For(rows, cols, ref job, ForWidth(&LayerNormRows<Vec512>, &LayerNormRows<Vec256>, &LayerNormRows<Vec128>));
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
    private static void LayerNormRows<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        int n = j.Cols, end = VectorEnd<V>(n);
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, y = j.Y + o;
            if (j.S != null) AddTo<V>(j.S + o, j.T + o, x, n);
            float mu = Sum<V>(x, n) / n;
            var vmu = V.Create(mu);
            var acc = V.Zero;
            int c = 0;
            for (; c < end; c += V.Count)
            {
                var d = V.Load(x + c) - vmu;
                acc = V.MultiplyAdd(d, d, acc);
            }
            float var = V.Sum(acc);
            for (; c < n; c++) var += (x[c] - mu) * (x[c] - mu);
            float rs = (float)(1 / Math.Sqrt(var / n + j.F0));
            j.U[r] = mu;
            j.V[r] = rs;
            var vrs = V.Create(rs);
            for (c = 0; c < end; c += V.Count)
            {
                var xhat = (V.Load(x + c) - vmu) * vrs;
                V.Store(V.MultiplyAdd(xhat, V.Load(j.Z + c), V.Load(j.W + c)), y + c);
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
            RowParallel.ForAccumulating(rows, cols, ref job, ForWidth(&LayerNormBackwardRows<Vec512>, &LayerNormBackwardRows<Vec256>, &LayerNormBackwardRows<Vec128>));
        }
    }

    private static void LayerNormBackwardRows<V>(ref RowJob j, int chunk, int r0, int r1) where V : unmanaged, IVec<V>
    {
        int n = j.Cols, end = VectorEnd<V>(n);
        float* dGamma = j.G0 + chunk * j.GStride, dBeta = j.G1 + chunk * j.GStride, gamma = j.Z;
        for (int r = r0; r < r1; r++)
        {
            long o = (long)r * n;
            float* x = j.X + o, dy = j.Y + o, dx = j.W + o;
            float mu = j.U[r], rs = j.V[r];
            var vmu = V.Create(mu);
            var vrs = V.Create(rs);
            V accG = V.Zero, accGX = V.Zero;
            int c = 0;
            for (; c < end; c += V.Count)
            {
                var xhat = (V.Load(x + c) - vmu) * vrs;
                var d = V.Load(dy + c);
                var g = d * V.Load(gamma + c);
                accG += g;
                accGX = V.MultiplyAdd(g, xhat, accGX);
                V.Store(V.MultiplyAdd(d, xhat, V.Load(dGamma + c)), dGamma + c);
                V.Store(V.Load(dBeta + c) + d, dBeta + c);
            }
            float sumG = V.Sum(accG), sumGX = V.Sum(accGX);
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
            var va = V.Create(a);
            var vb = V.Create(b);
            for (c = 0; c < end; c += V.Count)
            {
                var xhat = (V.Load(x + c) - vmu) * vrs;
                var g = V.Load(dy + c) * V.Load(gamma + c);
                V.Store(g * vrs - va - xhat * vb, dx + c);
            }
            for (; c < n; c++) dx[c] = dy[c] * gamma[c] * rs - a - (x[c] - mu) * rs * b;
        }
    }
}
