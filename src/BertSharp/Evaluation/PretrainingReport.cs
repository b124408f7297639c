using System.Globalization;
using System.Text.Json;

namespace BertSharp.Evaluation;

/// <summary>
/// Pre-training scores on held-out text: the masked-LM loss (mean cross-entropy over masked tokens, nats),
/// its perplexity exp(loss), the share of masked tokens whose top prediction is the original, and with
/// next-sentence prediction its accuracy and loss.
/// </summary>
public sealed class PretrainingReport : IEvaluationReport
{
    internal PretrainingReport(long maskedTokens, double mlmLoss, double maskedAccuracy, double? nspAccuracy, double? nspLoss)
    {
        MaskedTokens = maskedTokens;
        MlmLoss = mlmLoss;
        MaskedAccuracy = maskedAccuracy;
        NspAccuracy = nspAccuracy;
        NspLoss = nspLoss;
    }

    /// <summary>How many masked tokens were scored.</summary>
    public long MaskedTokens { get; }

    /// <summary>Mean cross-entropy of the original token at masked positions (nats).</summary>
    public double MlmLoss { get; }

    /// <summary>exp(<see cref="MlmLoss"/>).</summary>
    public double Perplexity => Math.Exp(MlmLoss);

    /// <summary>Share of masked tokens whose most probable prediction is the original token.</summary>
    public double MaskedAccuracy { get; }

    /// <summary>Next-sentence accuracy; null without that head.</summary>
    public double? NspAccuracy { get; }

    /// <summary>Next-sentence mean cross-entropy; null without that head.</summary>
    public double? NspLoss { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics
    {
        get
        {
            var m = new Dictionary<string, double> { ["masked_accuracy"] = MaskedAccuracy, ["perplexity"] = Perplexity, ["mlm_loss"] = MlmLoss };
            if (NspAccuracy is double a) m["nsp_accuracy"] = a;
            if (NspLoss is double l) m["nsp_loss"] = l;
            return m;
        }
    }

    /// <inheritdoc/>
    public string ToText(int digits = 4)
    {
        string F(double v) => v.ToString("F" + digits, CultureInfo.InvariantCulture);
        var text = $"masked tokens    {MaskedTokens}\nmasked accuracy  {F(MaskedAccuracy)}\nmlm loss         {F(MlmLoss)}\nperplexity       {Perplexity.ToString("F2", CultureInfo.InvariantCulture)}\n";
        if (NspAccuracy is double a) text += $"nsp accuracy     {F(a)}\nnsp loss         {F(NspLoss ?? double.NaN)}\n";
        return text;
    }

    /// <inheritdoc/>
    public string ToJson(bool indented = true)
    {
        var m = new Dictionary<string, object> { ["masked_tokens"] = MaskedTokens };
        foreach (var (k, v) in Metrics) m[k] = Math.Round(v, 6);
        return JsonSerializer.Serialize(m, new JsonSerializerOptions { WriteIndented = indented });
    }
}
