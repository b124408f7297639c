using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BertSharp.Evaluation;

/// <summary>
/// Regression scores: mean squared and absolute error (scikit-learn's definitions), Pearson's r and Spearman's
/// ρ (SciPy's: ρ is Pearson's r of the ranks, ties given their average rank).
/// </summary>
public sealed class RegressionReport : IEvaluationReport
{
    private RegressionReport(double mse, double mae, double? pearson, double? spearman, int count)
    {
        Mse = mse;
        Mae = mae;
        Pearson = pearson;
        Spearman = spearman;
        Count = count;
    }

    /// <summary>Scores predicted values against the true ones.</summary>
    /// <exception cref="ArgumentException">The lengths differ, there are no values, or one is not finite.</exception>
    public static RegressionReport Create(ReadOnlySpan<double> yTrue, ReadOnlySpan<double> yPred)
    {
        if (yTrue.Length != yPred.Length) throw new ArgumentException($"{yTrue.Length} true values but {yPred.Length} predicted");
        if (yTrue.Length == 0) throw new ArgumentException("no values to score");
        double se = 0, ae = 0;
        for (int i = 0; i < yTrue.Length; i++)
        {
            if (!double.IsFinite(yTrue[i]) || !double.IsFinite(yPred[i])) throw new ArgumentException($"value {i} is not a finite number");
            double d = yPred[i] - yTrue[i];
            se += d * d;
            ae += Math.Abs(d);
        }
        return new RegressionReport(se / yTrue.Length, ae / yTrue.Length, Correlation(yTrue, yPred), Correlation(Ranks(yTrue), Ranks(yPred)), yTrue.Length);
    }

    /// <summary>Mean squared error.</summary>
    public double Mse { get; }

    /// <summary>Mean absolute error.</summary>
    public double Mae { get; }

    /// <summary>Pearson's correlation coefficient; null when either side is constant (undefined).</summary>
    public double? Pearson { get; }

    /// <summary>Spearman's rank correlation; null when either side is constant (undefined).</summary>
    public double? Spearman { get; }

    /// <summary>The number of values scored.</summary>
    public int Count { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics
    {
        get
        {
            var m = new Dictionary<string, double> { ["mse"] = Mse, ["mae"] = Mae };
            if (Pearson is double r) m["pearson"] = r;
            if (Spearman is double rho) m["spearman"] = rho;
            return m;
        }
    }

    /// <inheritdoc/>
    public string ToText(int digits = 4)
    {
        string F(double? v) => v is double d ? d.ToString("F" + digits, CultureInfo.InvariantCulture) : "n/a";
        return new StringBuilder()
            .AppendLine($"mse {F(Mse)}, mae {F(Mae)}, pearson {F(Pearson)}, spearman {F(Spearman)}, {Count} values")
            .ToString();
    }

    /// <inheritdoc/>
    public string ToJson(bool indented = true) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["problem_type"] = "regression",
        ["mse"] = Mse,
        ["mae"] = Mae,
        ["pearson"] = Pearson,
        ["spearman"] = Spearman,
        ["count"] = Count,
    }, new JsonSerializerOptions { WriteIndented = indented });

    /// <inheritdoc/>
    public override string ToString() => ToText();

    private static double? Correlation(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double mx = 0, my = 0;
        for (int i = 0; i < x.Length; i++) { mx += x[i]; my += y[i]; }
        mx /= x.Length;
        my /= y.Length;
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? null : sxy / Math.Sqrt(sxx * syy);
    }

    // Ranks from 1, ties sharing the mean of the ranks they span (SciPy's rankdata "average").
    private static double[] Ranks(ReadOnlySpan<double> values)
    {
        var copy = values.ToArray();
        var order = Enumerable.Range(0, copy.Length).OrderBy(i => copy[i]).ToArray();
        var ranks = new double[copy.Length];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && copy[order[j + 1]] == copy[order[i]]) j++;
            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = rank;
            i = j + 1;
        }
        return ranks;
    }
}
