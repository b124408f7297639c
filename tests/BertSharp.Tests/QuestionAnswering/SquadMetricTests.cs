using BertSharp.QuestionAnswering;

namespace BertSharp.Tests.QuestionAnswering;

/// <summary>The SQuAD v1.1 official script's normalisation and scores, case by case as its definition gives them.</summary>
public class SquadMetricTests
{
    [Theory]
    [InlineData("The Quick, brown fox!", "quick brown fox")] // lower case, punctuation, a leading article
    [InlineData("an apple a day", "apple day")]
    [InlineData("theater Anatomy", "theater anatomy")] // articles only as whole words
    [InlineData("U.S.A.", "usa")] // punctuation removed, not replaced by a space
    [InlineData("don't", "dont")]
    [InlineData("$1,000.50", "100050")]
    [InlineData("  Denver \t Broncos\n", "denver broncos")] // whitespace collapsed
    [InlineData("the-the", "thethe")] // punctuation goes first, so the joined word is no article
    [InlineData("«Müller» – Zürich", "«müller» – zürich")] // only ASCII punctuation (Python's string.punctuation) is removed
    [InlineData("A", "")]
    public void NormalizeFollowsTheOfficialScript(string answer, string expected)
    {
        Assert.Equal(expected, SquadMetric.Normalize(answer));
    }

    [Theory]
    [InlineData("the cat sat", "cat sat on mat", 2.0 / 3)] // precision 1, recall 1/2
    [InlineData("cat cat", "cat", 2.0 / 3)] // a repeated token counts once per gold occurrence
    [InlineData("Denver Broncos", "the denver broncos.", 1.0)]
    [InlineData("Broncos", "Carolina Panthers", 0.0)]
    [InlineData("", "", 0.0)] // v1.1: no shared token is 0, even for two empty answers
    public void F1IsTheTokenOverlapOfNormalisedAnswers(string prediction, string gold, double f1)
    {
        Assert.Equal(f1, SquadMetric.F1(prediction, gold), 10);
    }

    [Fact]
    public void EvaluateTakesTheBestGoldAnswerAndCountsMissingPredictionsAsWrong()
    {
        SquadExample Q(string id, params string[] gold) =>
            new(id, "t", "q?", string.Concat(gold), [.. gold.Select(g => new SquadAnswer(g, 0))]);
        var examples = new[] { Q("1", "Denver Broncos", "Broncos"), Q("2", "Santa Clara, California"), Q("3", "1966") };
        var report = SquadMetric.Evaluate(examples, new Dictionary<string, string> { ["1"] = "broncos", ["2"] = "Santa Clara" });
        Assert.Equal(100.0 / 3, report.ExactMatch, 10);
        // 1: exact with the second gold (F1 1); 2: P 1, R 2/3 → 0.8; 3: missing → 0.
        Assert.Equal(100 * (1 + 0.8) / 3, report.F1, 10);
        Assert.Equal(["exact_match", "f1"], report.Metrics.Keys.Order());
        Assert.Contains("\"1\": \"broncos\"", report.PredictionsJson(), StringComparison.Ordinal);
    }
}
