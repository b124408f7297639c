namespace BertSharp.Tensors;

/// <summary>
/// Fused element-wise and row-wise kernels used by the encoder, each with its backward pass.
/// Matrices are row-major [rows, cols]. Backward kernels that produce parameter gradients
/// accumulate (+=) into them, so gradients of shared weights add up across calls.
/// </summary>
internal static class Kernels
{
    /// <summary>x[r, :] += bias for every row.</summary>
    public static void AddBias(Span<float> x, ReadOnlySpan<float> bias, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                x[r * cols + c] += bias[c];
    }

    /// <summary>dBias += column sums of dy.</summary>
    public static void BiasBackward(ReadOnlySpan<float> dy, Span<float> dBias, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                dBias[c] += dy[r * cols + c];
    }

    /// <summary>Exact GELU: y = x · Φ(x) = 0.5 x (1 + erf(x / √2)). In place allowed.</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = (float)(0.5 * x[i] * (1 + Erf(x[i] / Math.Sqrt(2))));
    }

    /// <summary>dx = dy · (Φ(x) + x φ(x)), from the pre-activation x.</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            double cdf = 0.5 * (1 + Erf(v / Math.Sqrt(2)));
            double pdf = Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
            dx[i] = (float)(dy[i] * (cdf + v * pdf));
        }
    }

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta per row; saves mean and rstd (length rows) for backward.
    /// </summary>
    public static void LayerNorm(
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

    /// <summary>dx = layer-norm backward; dGamma and dBeta accumulate.</summary>
    public static void LayerNormBackward(
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

    /// <summary>Numerically stable softmax of each row, in place.</summary>
    public static void SoftmaxRows(Span<float> x, int rows, int cols)
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

    /// <summary>dx = y ⊙ (dy − Σ dy·y) per row, from the softmax output y. dx may alias dy.</summary>
    public static void SoftmaxRowsBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += dy[r * cols + c] * y[r * cols + c];
            for (int c = 0; c < cols; c++)
                dx[r * cols + c] = (float)(y[r * cols + c] * (dy[r * cols + c] - dot));
        }
    }

    /// <summary>erf with |error| below 1.2e-7 (Numerical Recipes' erfc Chebyshev fit).</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - r : r - 1;
    }
}
