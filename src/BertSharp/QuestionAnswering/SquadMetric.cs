using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using BertSharp.Evaluation;

namespace BertSharp.QuestionAnswering;

/// <summary>
/// The SQuAD v1.1 official evaluation: answers normalised (lower case, ASCII punctuation removed, the articles
/// a/an/the removed, whitespace collapsed), exact match and token F1 of a prediction against each gold answer,
/// the best over the gold answers, averaged over the questions ×100.
/// </summary>
public static partial class SquadMetric
{
    // Python's string.punctuation, which the official script removes character by character.
    private const string Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>The official script's <c>normalize_answer</c>.</summary>
    public static string Normalize(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var lower = answer.ToLowerInvariant();
        var sb = new StringBuilder(lower.Length);
        foreach (char c in lower)
            if (!Punctuation.Contains(c, StringComparison.Ordinal)) sb.Append(c);
        var noArticles = Articles().Replace(sb.ToString(), " ");
        return string.Join(' ', Tokens(noArticles));
    }

    /// <summary>1 when the normalised prediction equals the normalised gold answer, else 0.</summary>
    public static double ExactMatch(string prediction, string gold) => Normalize(prediction) == Normalize(gold) ? 1 : 0;

    /// <summary>Token F1 of the normalised answers (0 when they share no token, as v1.1's script, even when both are empty).</summary>
    public static double F1(string prediction, string gold)
    {
        var predicted = Tokens(Normalize(prediction));
        var truth = Tokens(Normalize(gold));
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in truth) counts[t] = counts.GetValueOrDefault(t) + 1;
        int same = 0;
        foreach (var t in predicted)
        {
            if (counts.GetValueOrDefault(t) <= 0) continue;
            counts[t]--;
            same++;
        }
        if (same == 0) return 0;
        double precision = (double)same / predicted.Length, recall = (double)same / truth.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>Scores predictions keyed by question id; a question without a prediction scores 0, as the official script.</summary>
    /// <exception cref="ArgumentException">An example has no gold answers.</exception>
    public static SquadReport Evaluate(IReadOnlyList<SquadExample> examples, IReadOnlyDictionary<string, string> predictions)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(predictions);
        if (examples.Count == 0) throw new ArgumentException("no questions to score");
        double em = 0, f1 = 0;
        foreach (var e in examples)
        {
            if (e.Answers.Count == 0) throw new ArgumentException($"{e.Location}: question '{e.Id}' has no gold answer to score against");
            if (!predictions.TryGetValue(e.Id, out var p)) continue;
            em += e.Answers.Max(a => ExactMatch(p, a.Text));
            f1 += e.Answers.Max(a => F1(p, a.Text));
        }
        return new SquadReport(100 * em / examples.Count, 100 * f1 / examples.Count, examples.Count, predictions);
    }

    // Python's str.split(): runs of whitespace, no empty tokens.
    private static string[] Tokens(string s) => s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    [GeneratedRegex(@"\b(a|an|the)\b")]
    private static partial Regex Articles();
}

/// <summary>SQuAD scores (exact match and F1 ×100 over the questions) and the predictions they came from.</summary>
public sealed class SquadReport : IEvaluationReport
{
    internal SquadReport(double exactMatch, double f1, int count, IReadOnlyDictionary<string, string> predictions)
    {
        ExactMatch = exactMatch;
        F1 = f1;
        Count = count;
        Predictions = predictions;
    }

    /// <summary>Exact match ×100.</summary>
    public double ExactMatch { get; }

    /// <summary>Token F1 ×100.</summary>
    public double F1 { get; }

    /// <summary>Questions scored.</summary>
    public int Count { get; }

    /// <summary>The predicted answer text by question id.</summary>
    public IReadOnlyDictionary<string, string> Predictions { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, double> Metrics => new Dictionary<string, double> { ["exact_match"] = ExactMatch, ["f1"] = F1 };

    /// <inheritdoc/>
    public string ToText(int digits = 4) => string.Create(CultureInfo.InvariantCulture,
        $"exact_match {Math.Round(ExactMatch, digits)}\nf1 {Math.Round(F1, digits)}\nquestions {Count}\n");

    /// <inheritdoc/>
    public string ToJson(bool indented = true) =>
        JsonSerializer.Serialize(new Dictionary<string, object> { ["exact_match"] = ExactMatch, ["f1"] = F1, ["questions"] = Count },
            new JsonSerializerOptions { WriteIndented = indented });

    /// <summary>The official <c>predictions.json</c>: one object from question id to answer text.</summary>
    public string PredictionsJson() => JsonSerializer.Serialize(Predictions, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
