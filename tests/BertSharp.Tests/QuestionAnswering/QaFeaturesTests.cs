using BertSharp.QuestionAnswering;
using BertSharp.Text;

namespace BertSharp.Tests.QuestionAnswering;

public class QaFeaturesTests
{
    private static readonly BertTokenizer Tokenizer = BertTokenizer.FromBuiltIn();

    // Short windows so a few sentences overflow into several: 48 tokens, 12 shared.
    private static readonly QaOptions Small = new() { MaxLength = 48, DocStride = 12, MaxQuestionLength = 16 };

    private static readonly string Filler = string.Join(" ", Enumerable.Repeat("The river runs north past the old mill and the quiet farms.", 6));

    private static SquadExample Example(string context, string answer, int start, string question = "Where was the treaty signed?") =>
        new("q", "t", question, context, [new SquadAnswer(answer, start)]);

    private static string Span(SquadExample e, QaFeature f) => e.Context[f.Offsets[f.StartPosition].Start..f.Offsets[f.EndPosition].End];

    [Fact]
    public void AnAnswerInTheSecondWindowIsFoundThereAndTheFirstWindowPointsAtCls()
    {
        string context = Filler + " The treaty was signed in Paris, France. " + Filler;
        var e = Example(context, "Paris", context.IndexOf("Paris", StringComparison.Ordinal));
        var features = QaFeatures.Build(Tokenizer, e, 0, Small);
        Assert.True(features.Count >= 3, $"{features.Count} windows");
        Assert.Equal((0, 0), (features[0].StartPosition, features[0].EndPosition));
        var holding = features.Where(f => f.StartPosition > 0).ToList();
        Assert.NotEmpty(holding);
        Assert.All(holding, f => Assert.Equal("Paris", Span(e, f)));
        Assert.All(features, f => Assert.True(f.InputIds.Length <= Small.MaxLength));
    }

    [Fact]
    public void AnAnswerAcrossAWindowBoundaryIsOnlyLabelledInTheWindowThatHoldsAllOfIt()
    {
        var probe = Example(Filler, "The", 0);
        var first = QaFeatures.Build(Tokenizer, probe, 0, Small)[0];
        int lastContext = Enumerable.Range(0, first.InputIds.Length).Last(first.IsContext);
        // An answer from two tokens before the end of the first window to two tokens after it.
        int startChar = first.Offsets[lastContext - 1].Start;
        var second = QaFeatures.Build(Tokenizer, probe, 0, Small)[1];
        int firstOfSecond = Enumerable.Range(0, second.InputIds.Length).First(second.IsContext);
        int after = Enumerable.Range(firstOfSecond, second.InputIds.Length - firstOfSecond).First(i => second.IsContext(i) && second.Offsets[i].Start > first.Offsets[lastContext].End);
        int endChar = second.Offsets[after + 1].End;
        var e = Example(Filler, Filler[startChar..endChar], startChar);
        var features = QaFeatures.Build(Tokenizer, e, 0, Small);
        Assert.Equal((0, 0), (features[0].StartPosition, features[0].EndPosition));
        Assert.True(features[1].StartPosition > 0);
        Assert.Equal(e.Answers[0].Text, Span(e, features[1]));
    }

    [Fact]
    public void ConsecutiveWindowsShareDocStrideContextTokens()
    {
        var features = QaFeatures.Build(Tokenizer, Example(Filler, "The", 0), 0, Small);
        for (int w = 1; w < features.Count; w++)
        {
            var previous = features[w - 1].Offsets.Where(o => o.Start >= 0).ToList();
            var next = features[w].Offsets.Where(o => o.Start >= 0).ToList();
            Assert.Equal(previous.TakeLast(Small.DocStride), next.Take(Small.DocStride));
        }
    }

    [Theory]
    [InlineData("Zürich")]
    [InlineData("Müller")]
    [InlineData("«Müller»")]
    [InlineData("n'est-ce pas")]
    [InlineData("1,999.50 €")]
    public void OffsetsMapAccentedAndPunctuatedAnswersBackToTheOriginalText(string answer)
    {
        string context = "Le café «Müller» a ouvert à Zürich en 1,999.50 € — n'est-ce pas? Ça, c'est l'ÉTÉ.";
        var e = Example(context, answer, context.IndexOf(answer, StringComparison.Ordinal), "Où est le café?");
        var feature = Assert.Single(QaFeatures.Build(Tokenizer, e, 0, new QaOptions()));
        Assert.Equal(answer, Span(e, feature));
        // Every context token's offsets index the original string; question and special tokens have none.
        for (int i = 0; i < feature.InputIds.Length; i++)
        {
            if (!feature.IsContext(i)) continue;
            var (s, end) = feature.Offsets[i];
            Assert.InRange(s, 0, end - 1);
            Assert.InRange(end, 1, context.Length);
        }
        Assert.False(feature.IsContext(0));
        Assert.Equal(1, feature.TypeIds[^1]);
    }

    [Fact]
    public void ALongQuestionIsCutToTheMaximumQuestionLength()
    {
        string question = string.Join(" ", Enumerable.Repeat("which", 40)) + "?";
        var e = Example(Filler, "The", 0, question);
        var feature = QaFeatures.Build(Tokenizer, e, 0, Small)[0];
        int questionTokens = Array.IndexOf(feature.InputIds, Tokenizer.SepId) - 1;
        Assert.Equal(Small.MaxQuestionLength, questionTokens);
    }

    [Fact]
    public void PostProcessingTakesTheBestValidSpanOverWindows()
    {
        var e = new SquadExample("q", "t", "q?", "alpha beta gamma delta", []);
        // Two windows: [CLS] q [SEP] ctx… [SEP]; context tokens at 3..4 in the first, 3..5 in the second.
        (int, int)[] none = [(-1, -1)];
        var w0 = new QaFeature(0, new int[6], new int[6], [.. none, .. none, .. none, (0, 5), (6, 10), .. none], 0, 0);
        var w1 = new QaFeature(0, new int[7], new int[7], [.. none, .. none, .. none, (6, 10), (11, 16), (17, 22), .. none], 0, 0);
        float[] z0 = [9, 9, 9, 9, 9, 9, 2, 0, 0, 2, 0, 0]; // the 9s of [CLS], question and [SEP] are not context: best valid is "alpha beta" = 4
        float[] z1 = [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 3, 0, 0]; // "gamma" .. "delta" = 5
        var answers = QaFeatures.PostProcess([e], [w0, w1], [z0, z1], new QaOptions(), topK: 2);
        Assert.Equal(["gamma delta", "alpha beta"], answers[0].Select(a => a.Answer));
        Assert.Equal((11, 22), (answers[0][0].Start, answers[0][0].End));
        Assert.InRange(answers[0][0].Score, 0f, 1f);
        // A maximum answer length of one token leaves single tokens only.
        var shortOnly = QaFeatures.PostProcess([e], [w0, w1], [z0, z1], new QaOptions { MaxAnswerLength = 1 });
        Assert.Equal("delta", shortOnly[0][0].Answer);
    }

    [Fact]
    public void OptionsThatLeaveNoRoomForTheContextAreRejectedByName()
    {
        Assert.Contains("doc stride", Assert.Throws<ArgumentException>(() => new QaOptions { MaxLength = 128, DocStride = 128 }.Validate()).Message);
        Assert.Contains("max question length", Assert.Throws<ArgumentException>(() => new QaOptions { MaxQuestionLength = 0 }.Validate()).Message);
    }
}
