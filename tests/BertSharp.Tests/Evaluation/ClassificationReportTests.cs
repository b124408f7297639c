using System.Text.Json;
using BertSharp.Evaluation;

namespace BertSharp.Tests.Evaluation;

public class ClassificationReportTests
{
    // scikit-learn's documented example for classification_report.
    private static readonly int[] SkTrue = [0, 1, 2, 2, 2];
    private static readonly int[] SkPred = [0, 0, 2, 2, 1];
    private static readonly string[] SkNames = ["class 0", "class 1", "class 2"];

    [Fact]
    public void TextMatchesScikitLearnsDocumentedReport()
    {
        // Copied from the output printed in sklearn.metrics.classification_report's docstring.
        string expected =
            "              precision    recall  f1-score   support\n" +
            "\n" +
            "     class 0       0.50      1.00      0.67         1\n" +
            "     class 1       0.00      0.00      0.00         1\n" +
            "     class 2       1.00      0.67      0.80         3\n" +
            "\n" +
            "    accuracy                           0.60         5\n" +
            "   macro avg       0.50      0.56      0.49         5\n" +
            "weighted avg       0.70      0.60      0.61         5\n";
        Assert.Equal(expected, ClassificationReport.Create(SkTrue, SkPred, SkNames).ToText());
    }

    [Fact]
    public void RowsMatchScikitLearnsOutputForFiveIntegerClasses()
    {
        // Output of classification_report(y_true, y_pred) for these labels, as printed by scikit-learn.
        int[] yTrue = [0, 3, 2, 2, 1, 1, 4, 3, 2, 4, 1, 0, 0];
        int[] yPred = [0, 3, 1, 2, 1, 2, 4, 3, 2, 2, 1, 3, 0];
        string[] expected =
        [
            "           0       1.00      0.67      0.80         3",
            "           1       0.67      0.67      0.67         3",
            "           2       0.50      0.67      0.57         3",
            "           3       0.67      1.00      0.80         2",
            "           4       1.00      0.50      0.67         2",
            "    accuracy                           0.69        13",
            "   macro avg       0.77      0.70      0.70        13",
            "weighted avg       0.76      0.69      0.70        13",
        ];
        string text = ClassificationReport.Create(yTrue, yPred, ["0", "1", "2", "3", "4"]).ToText();
        Assert.Equal(expected, text.Split('\n').Where(l => l.Length > 0).Skip(1));
    }

    [Fact]
    public void ValuesAreTheHandComputedOnes()
    {
        var r = ClassificationReport.Create(SkTrue, SkPred, SkNames);
        // class 0: tp 1, predicted 2 (indices 0, 1), support 1 → P 1/2, R 1/1, F1 2·1/(2·1+1+0) = 2/3
        // class 1: tp 0, predicted 1, support 1 → P 0, R 0, F1 0
        // class 2: tp 2, predicted 2, support 3 → P 1, R 2/3, F1 4/(4+0+1) = 4/5
        Assert.Equal(new ClassMetrics(0.5, 1, 2.0 / 3, 1), r.PerClass[0]);
        Assert.Equal(new ClassMetrics(0, 0, 0, 1), r.PerClass[1]);
        Assert.Equal(new ClassMetrics(1, 2.0 / 3, 0.8, 3), r.PerClass[2]);
        Assert.Equal(0.6, r.Accuracy, 12); // 3 of 5
        Assert.Equal(1.5 / 3, r.MacroAverage.Precision, 12);
        Assert.Equal((1 + 2.0 / 3) / 3, r.MacroAverage.Recall, 12);
        Assert.Equal((2.0 / 3 + 0.8) / 3, r.MacroAverage.F1, 12);
        Assert.Equal((0.5 * 1 + 0 * 1 + 1 * 3) / 5.0, r.WeightedAverage.Precision, 12);
        Assert.Equal((1 * 1 + 0 * 1 + 2.0 / 3 * 3) / 5.0, r.WeightedAverage.Recall, 12);
        Assert.Equal((2.0 / 3 * 1 + 0 * 1 + 0.8 * 3) / 5.0, r.WeightedAverage.F1, 12);
        Assert.Equal(5, r.WeightedAverage.Support);
        // Rows are true labels, columns predictions: 0→0; 1→0; 2→2, 2→2, 2→1.
        Assert.Equal([[1L, 0, 0], [1L, 0, 0], [0L, 1, 2]], r.ConfusionMatrix.ToArray());
    }

    [Fact]
    public void JsonHasScikitLearnsOutputDictKeys()
    {
        var r = ClassificationReport.Create(SkTrue, SkPred, SkNames);
        using var doc = JsonDocument.Parse(r.ToJson());
        var root = doc.RootElement;
        Assert.Equal(2.0 / 3, root.GetProperty("class 2").GetProperty("recall").GetDouble(), 12);
        Assert.Equal(3, root.GetProperty("class 2").GetProperty("support").GetInt64());
        Assert.Equal(0.6, root.GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal((2.0 / 3 + 0.8) / 3, root.GetProperty("macro avg").GetProperty("f1-score").GetDouble(), 12);
        Assert.Equal(0.7, root.GetProperty("weighted avg").GetProperty("precision").GetDouble(), 12);
        Assert.Equal(2, root.GetProperty("confusion_matrix").GetProperty("matrix")[2][2].GetInt64());
        Assert.False(root.TryGetProperty("roc_auc", out _));
    }

    [Fact]
    public void ZeroDivisionGivesTheChosenValue()
    {
        string[] names = ["a", "b"];
        // b is never predicted: its precision is 0/0; recall 0/1 = 0; F1 = 0/(0 + 0 + 1) = 0 whatever
        // zeroDivision is, as scikit-learn ≥ 1.3 computes it.
        int[] yTrue = [0, 1], yPred = [0, 0];
        var zero = ClassificationReport.Create(yTrue, yPred, names);
        Assert.Equal(new ClassMetrics(0, 0, 0, 1), zero.PerClass[1]);
        var one = ClassificationReport.Create(yTrue, yPred, names, zeroDivision: 1);
        Assert.Equal(new ClassMetrics(1, 0, 0, 1), one.PerClass[1]);

        // b neither present nor predicted: every ratio is 0/0.
        var absent = ClassificationReport.Create([0, 0], [0, 0], names, zeroDivision: 1);
        Assert.Equal(new ClassMetrics(1, 1, 1, 0), absent.PerClass[1]);
        var nan = ClassificationReport.Create([0, 0], [0, 0], names, zeroDivision: double.NaN);
        Assert.True(double.IsNaN(nan.PerClass[1].Precision));
        Assert.Contains("\"precision\": null", nan.ToJson());
        Assert.Contains("nan", nan.ToText());
        // NaN is left out of the averages: macro precision is a's alone, 2/2 = 1.
        Assert.Equal(1.0, nan.MacroAverage.Precision);
    }

    [Fact]
    public void RoundsHalfToEvenAsPythonFormats()
    {
        // a predicted 8 times, right once: precision 1/8 = 0.125 exactly, which Python's "%.2f"
        // prints as 0.12 (half to even), not 0.13.
        int[] yTrue = [0, 1, 1, 1, 1, 1, 1, 1];
        int[] yPred = [0, 0, 0, 0, 0, 0, 0, 0];
        string text = ClassificationReport.Create(yTrue, yPred, ["a", "b"]).ToText();
        Assert.Contains("           a       0.12      1.00", text);
    }

    [Fact]
    public void RocAucIsAddedForTwoClasses()
    {
        var r = ClassificationReport.Create([0, 0, 1, 1], [0, 1, 0, 1], ["neg", "pos"], positiveScores: [0.1, 0.4, 0.35, 0.8]);
        Assert.Equal(0.75, r.RocAuc!.Value, 12);
        Assert.Contains("\"roc_auc\": 0.75", r.ToJson());
        Assert.Throws<ArgumentException>(() => ClassificationReport.Create(SkTrue, SkPred, SkNames, positiveScores: [0.1, 0.2, 0.3, 0.4, 0.5]));
    }

    [Fact]
    public void BadInputsNameTheProblem()
    {
        Assert.Contains("3 true labels but 2", Assert.Throws<ArgumentException>(() => ClassificationReport.Create([0, 1, 1], [0, 1], ["a", "b"])).Message);
        Assert.Contains("at index 1", Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationReport.Create([0, 2], [0, 1], ["a", "b"])).Message);
        Assert.Throws<ArgumentException>(() => ClassificationReport.Create([], [], ["a", "b"]));
    }

    [Fact]
    public void ConfusionMatrixTextHasARowPerTrueLabel()
    {
        var m = new ConfusionMatrix([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["negative", "positive"]);
        string[] lines = m.ToText().TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Equal(["negative", "1", "1"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["positive", "1", "2"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, m.TrueCount(0));
        Assert.Equal(3, m.PredictedCount(1));
    }
}
