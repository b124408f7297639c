using System.Globalization;
using System.Text;
using BertSharp.Evaluation;

namespace BertSharp.Cli.Commands;

/// <summary>An evaluation report as <c>eval</c> and <c>train</c> print it.</summary>
internal static class ReportText
{
    /// <summary>
    /// The task's table (scikit-learn's layout for a classifier, seqeval's for entities, …), and for a classifier the
    /// confusion matrix and, with two classes, the ROC-AUC that the JSON form also holds.
    /// </summary>
    public static string For(IEvaluationReport report)
    {
        var text = new StringBuilder(report.ToText(4));
        if (report is not ClassificationReport classification) return text.ToString();
        text.Append('\n').Append(classification.ConfusionMatrix.ToText());
        if (classification.Labels.Count == 2)
        {
            text.Append('\n').Append("roc_auc ").Append(classification.RocAuc is double auc
                ? auc.ToString("F4", CultureInfo.InvariantCulture)
                : "n/a (the data hold one class only)").Append('\n');
        }
        return text.ToString();
    }
}
