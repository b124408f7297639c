using BertSharp.Evaluation;

namespace BertSharp.Tests.Evaluation;

/// <summary>The truth is seqeval's documented examples (its README and docstrings) and conlleval's chunk rules.</summary>
public class EntityReportTests
{
    private static IReadOnlyList<IReadOnlyList<string>> S(params string[][] sentences) => sentences;

    [Fact]
    public void GetEntitiesFindsTypedSpansAsSeqevalsDocstring()
    {
        // seqeval.metrics.sequence_labeling.get_entities(['B-PER', 'I-PER', 'O', 'B-LOC']) == [('PER', 0, 1), ('LOC', 3, 3)]
        var entities = EntityReport.Entities(S(["B-PER", "I-PER", "O", "B-LOC"]));
        Assert.Equal([new EntitySpan(0, "PER", 0, 1), new EntitySpan(0, "LOC", 3, 3)], entities);
    }

    [Fact]
    public void ClassificationReportOfTheReadmeExample()
    {
        // seqeval's README: MISC 0.00/0.00/0.00 (1), PER 1.00/1.00/1.00 (1), micro avg 0.50, macro 0.50, weighted 0.50;
        // accuracy_score 0.80 and f1_score 0.50 on the same tags.
        var yTrue = S(["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]);
        var yPred = S(["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]);
        var report = EntityReport.Create(yTrue, yPred);
        Assert.Equal(["MISC", "PER"], report.Types);
        Assert.Equal(new ClassMetrics(0, 0, 0, 1), report.PerType[0]);
        Assert.Equal(new ClassMetrics(1, 1, 1, 1), report.PerType[1]);
        Assert.Equal(0.5, report.MicroAverage.F1, 12);
        Assert.Equal(0.5, report.MicroAverage.Precision, 12);
        Assert.Equal(0.5, report.MicroAverage.Recall, 12);
        Assert.Equal(0.5, report.MacroAverage.F1, 12);
        Assert.Equal(0.5, report.WeightedAverage.F1, 12);
        Assert.Equal(0.8, report.Accuracy, 12);
        Assert.Equal(0.5, report.Metrics["f1"], 12);
        // The wrong MISC span is one miss and one spurious entity; PER is found.
        Assert.Equal(1, report.Confusion(0, 2));
        Assert.Equal(1, report.Confusion(2, 0));
        Assert.Equal(1, report.Confusion(1, 1));
        Assert.Contains("micro avg", report.ToText(2));
        Assert.Contains("0.50", report.ToText(2));
    }

    [Fact]
    public void StrictModeRejectsAnEntityThatStartsWithI()
    {
        // seqeval's README: y_true [['B-NP', 'I-NP', 'O']], y_pred [['I-NP', 'I-NP', 'O']] → NP 1.00 by default,
        // 0.00 with mode='strict', scheme=IOB2.
        var yTrue = S(["B-NP", "I-NP", "O"]);
        var yPred = S(["I-NP", "I-NP", "O"]);
        Assert.Equal(1.0, EntityReport.Create(yTrue, yPred).MicroAverage.F1, 12);
        var strict = EntityReport.Create(yTrue, yPred, EntityMode.Strict);
        Assert.Equal(0.0, strict.MicroAverage.F1, 12);
        Assert.Equal(1, strict.PerType[0].Support);
    }

    [Fact]
    public void DefaultModeStartsChunksAtIAndSplitsThemAtTypeChanges()
    {
        // conlleval's rules: I after O (or at the start) opens a chunk; a type change inside a run closes one and
        // opens the next; B after I of the same type opens a new one.
        var entities = EntityReport.Entities(S(["I-PER", "I-PER", "I-LOC", "O", "I-ORG", "B-ORG", "I-ORG", "B-PER", "I-MISC"]));
        Assert.Equal(
        [
            new EntitySpan(0, "PER", 0, 1), new EntitySpan(0, "LOC", 2, 2), new EntitySpan(0, "ORG", 4, 4),
            new EntitySpan(0, "ORG", 5, 6), new EntitySpan(0, "PER", 7, 7), new EntitySpan(0, "MISC", 8, 8),
        ], entities);
    }

    [Fact]
    public void StrictModeEndsAnEntityAtATypeChangeAndDropsTheOrphanI()
    {
        var entities = EntityReport.Entities(S(["B-PER", "I-PER", "I-LOC", "O", "I-ORG", "B-ORG", "I-ORG"]), EntityMode.Strict);
        Assert.Equal([new EntitySpan(0, "PER", 0, 1), new EntitySpan(0, "ORG", 5, 6)], entities);
        Assert.Throws<ArgumentException>(() => EntityReport.Entities(S(["S-PER"]), EntityMode.Strict));
    }

    [Fact]
    public void IobesChunksInDefaultMode()
    {
        // get_entities handles IOBES: S is a one-word chunk, E closes one.
        var entities = EntityReport.Entities(S(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"]));
        Assert.Equal([new EntitySpan(0, "PER", 0, 0), new EntitySpan(0, "LOC", 1, 3)], entities);
    }

    [Fact]
    public void SentencesNeverJoinAndMismatchedLengthsAreErrors()
    {
        // An entity at the end of one sentence and one at the start of the next are two entities.
        var entities = EntityReport.Entities(S(["O", "B-PER"], ["I-PER", "O"]));
        Assert.Equal([new EntitySpan(0, "PER", 1, 1), new EntitySpan(1, "PER", 0, 0)], entities);
        Assert.Throws<ArgumentException>(() => EntityReport.Create(S(["O", "O"]), S(["O"])));
        Assert.Throws<ArgumentException>(() => EntityReport.Create(S(["O"]), S(["O"], ["O"])));
    }
}
