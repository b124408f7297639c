using BertSharp.Evaluation;

namespace BertSharp.Tests.Evaluation;

/// <summary>The multi-label and regression reports against scikit-learn's and SciPy's documented examples.</summary>
public class MultiLabelAndRegressionReportTests
{
    [Fact]
    public void MultiLabelF1MatchesScikitLearnsDocumentedExample()
    {
        // f1_score(y_true, y_pred, average=None) with y_true = [[0,0,0],[1,1,1],[0,1,1]],
        // y_pred = [[0,0,0],[1,1,1],[1,1,0]] → [0.66666667, 1., 0.66666667] in scikit-learn's documentation.
        var report = MultiLabelReport.Create([0, 0, 0, 1, 1, 1, 0, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1, 0], ["a", "b", "c"]);
        Assert.Equal(2.0 / 3, report.PerLabel[0].F1, 8);
        Assert.Equal(1.0, report.PerLabel[1].F1, 8);
        Assert.Equal(2.0 / 3, report.PerLabel[2].F1, 8);
        // micro: tp 4, fp 1, fn 1 → 0.8; macro: the mean 7/9.
        Assert.Equal(0.8, report.MicroAverage.F1, 8);
        Assert.Equal(7.0 / 9, report.MacroAverage.F1, 8);
        Assert.Equal(2.0 / 3, report.SubsetAccuracy, 8);
        Assert.Equal(2.0 / 9, report.HammingLoss, 8);
        Assert.Equal(0.8, report.Metrics["micro_f1"], 8);
    }

    [Fact]
    public void SubsetAccuracyAndHammingLossMatchScikitLearnsDocumentedExamples()
    {
        // accuracy_score(np.array([[0, 1], [1, 1]]), np.ones((2, 2))) == 0.5
        Assert.Equal(0.5, MultiLabelReport.Create([0, 1, 1, 1], [1, 1, 1, 1], ["x", "y"]).SubsetAccuracy);
        // hamming_loss(np.array([[0, 1], [1, 1]]), np.zeros((2, 2))) == 0.75
        Assert.Equal(0.75, MultiLabelReport.Create([0, 1, 1, 1], [0, 0, 0, 0], ["x", "y"]).HammingLoss);
    }

    [Fact]
    public void ALabelNeverTrueNorPredictedScoresZeroAsScikitLearnsZeroDivision()
    {
        var report = MultiLabelReport.Create([1, 0, 1, 0], [1, 0, 0, 0], ["x", "never"]);
        Assert.Equal(0, report.PerLabel[1].F1);
        Assert.Equal(0, report.PerLabel[1].Support);
        Assert.Contains("never", report.ToText());
        Assert.Contains("\"never\"", report.ToJson());
    }

    [Fact]
    public void RegressionMatchesScikitLearnAndSciPyExamples()
    {
        // mean_squared_error / mean_absolute_error examples: 0.375 and 0.5.
        var errors = RegressionReport.Create([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]);
        Assert.Equal(0.375, errors.Mse, 12);
        Assert.Equal(0.5, errors.Mae, 12);
        // scipy.stats.pearsonr([1..7], [10, 9, 2.5, 6, 4, 3, 2]) → -0.828503883588428
        Assert.Equal(-0.828503883588428, RegressionReport.Create([1, 2, 3, 4, 5, 6, 7], [10, 9, 2.5, 6, 4, 3, 2]).Pearson!.Value, 12);
        // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) → 0.8207826816681233 (ties at their mean rank)
        Assert.Equal(0.8207826816681233, RegressionReport.Create([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).Spearman!.Value, 12);
    }

    [Fact]
    public void CorrelationOfAConstantIsUndefinedNotAnError()
    {
        var report = RegressionReport.Create([1, 2, 3], [4, 4, 4]);
        Assert.Null(report.Pearson);
        Assert.Null(report.Spearman);
        Assert.False(report.Metrics.ContainsKey("pearson"));
        Assert.Contains("pearson n/a", report.ToText());
    }
}
