using BertSharp.Evaluation;

namespace BertSharp.Tests.Evaluation;

public class MetricsTests
{
    [Fact]
    public void RocAucMatchesScikitLearnsDocumentedExample()
    {
        // roc_auc_score docstring: y = [0, 0, 1, 1], scores = [0.1, 0.4, 0.35, 0.8] → 0.75.
        // By hand: positive 0.35 beats negative 0.1 only, 0.8 beats both: 3 of 4 pairs.
        Assert.Equal(0.75, Metrics.RocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 12);
        Assert.Equal(0.75, Metrics.RocAuc([0, 0, 1, 1], [0.1f, 0.4f, 0.35f, 0.8f]), 12);
    }

    [Fact]
    public void TiesCountOneHalf()
    {
        // positives {0.5, 0.9}, negatives {0.5, 0.2}: pairs 0.5~0.5 = ½, 0.5>0.2 = 1, 0.9>0.5 = 1,
        // 0.9>0.2 = 1 → 3.5 / 4 = 0.875 (the trapezoid under the ROC curve gives the same).
        Assert.Equal(0.875, Metrics.RocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]), 12);
        Assert.Equal(0.5, Metrics.RocAuc([1, 0, 1, 0, 0], [3.0, 3.0, 3.0, 3.0, 3.0]), 12);
        Assert.Equal(0.0, Metrics.RocAuc([1, 0], [0.1, 0.9]), 12);
    }

    [Fact]
    public void RocAucRejectsOneClassAndOtherLabels()
    {
        Assert.Contains("one class", Assert.Throws<ArgumentException>(() => Metrics.RocAuc([1, 1], [0.1, 0.2])).Message);
        Assert.Contains("found 2 at index 1", Assert.Throws<ArgumentException>(() => Metrics.RocAuc([0, 2], [0.1, 0.2])).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => Metrics.RocAuc([0, 1], [double.NaN, 0.2])).Message);
    }

    [Fact]
    public void AccuracyIsTheShareCorrect()
    {
        Assert.Equal(0.6, Metrics.Accuracy([0, 1, 2, 2, 2], [0, 0, 2, 2, 1]), 12); // 3 of 5
        Assert.Throws<ArgumentException>(() => Metrics.Accuracy([], []));
    }
}
