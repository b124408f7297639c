namespace BertSharp.Tests.Tensors;

/// <summary>Straightforward double-precision definitions the fp32 kernels are checked against.</summary>
internal static class Reference
{
    /// <summary>
    /// erf by the everywhere-positive series erf x = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)),
    /// which has no cancellation, so it is accurate to double precision for |x| ≤ 6.
    /// </summary>
    public static double Erf(double x)
    {
        if (Math.Abs(x) > 6) return Math.Sign(x);
        double term = x, sum = x;
        for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
        {
            term *= 2 * x * x / (2 * n + 1);
            sum += term;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
    }

    /// <summary>x·Φ(x), with Φ from erfc by its continued fraction for large negative x (no cancellation).</summary>
    public static double Gelu(double x) => x * Phi(x);

    private static double Phi(double x)
    {
        if (x > -3) return 0.5 * (1 + Erf(x / Math.Sqrt(2)));
        // Φ(x) = φ(x) / (−x + 1/(−x + 2/(−x + 3/(…)))) for x < 0 (Laplace's continued fraction).
        double z = -x, f = z;
        for (int n = 60; n >= 1; n--) f = z + n / f;
        return Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI) / f;
    }

    public static (double[] Y, double[] Mean, double[] Rstd) LayerNorm(
        IReadOnlyList<float> x, float[] gamma, float[] beta, int rows, int cols, double eps) =>
        LayerNorm(x.Select(v => (double)v).ToArray(), gamma.Select(v => (double)v).ToArray(),
            beta.Select(v => (double)v).ToArray(), rows, cols, eps);

    public static (double[] Y, double[] Mean, double[] Rstd) LayerNorm(
        double[] x, double[] gamma, double[] beta, int rows, int cols, double eps)
    {
        var y = new double[rows * cols];
        var mean = new double[rows];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0, var = 0;
            for (int c = 0; c < cols; c++) mu += x[r * cols + c];
            mu /= cols;
            for (int c = 0; c < cols; c++) var += (x[r * cols + c] - mu) * (x[r * cols + c] - mu);
            double rs = 1 / Math.Sqrt(var / cols + eps);
            mean[r] = mu;
            rstd[r] = rs;
            for (int c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c] - mu) * rs * gamma[c] + beta[c];
        }
        return (y, mean, rstd);
    }

    public static double[] Softmax(IReadOnlyList<float> x, int rows, int cols, double scale, float[]? mask) =>
        Softmax(x.Select(v => (double)v).ToArray(), rows, cols, scale, mask);

    public static double[] Softmax(double[] x, int rows, int cols, double scale, float[]? mask)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < cols; c++)
            {
                y[r * cols + c] = x[r * cols + c] * scale + (mask?[c] ?? 0);
                max = Math.Max(max, y[r * cols + c]);
            }
            for (int c = 0; c < cols; c++) sum += y[r * cols + c] = Math.Exp(y[r * cols + c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] /= sum;
        }
        return y;
    }

    /// <summary>Central difference of f at x.</summary>
    public static double Derivative(Func<double, double> f, double x, double h = 1e-4) => (f(x + h) - f(x - h)) / (2 * h);

    /// <summary>∂f/∂v[i] by central differences (v is restored).</summary>
    public static double Partial(double[] v, int i, Func<double[], double> f, double h = 1e-4)
    {
        double saved = v[i];
        v[i] = saved + h;
        double up = f(v);
        v[i] = saved - h;
        double down = f(v);
        v[i] = saved;
        return (up - down) / (2 * h);
    }
}
