namespace BertSharp.Evaluation;

/// <summary>What every task's evaluation gives: named metrics, a text report and a JSON one.</summary>
public interface IEvaluationReport
{
    /// <summary>
    /// The metrics by name without the <c>eval_</c> prefix (<c>accuracy</c>, <c>micro_f1</c>, <c>pearson</c>, …);
    /// a metric that is undefined on these data is absent.
    /// </summary>
    IReadOnlyDictionary<string, double> Metrics { get; }

    /// <summary>The report as a plain-text table.</summary>
    string ToText(int digits = 4);

    /// <summary>The report as JSON.</summary>
    string ToJson(bool indented = true);
}
