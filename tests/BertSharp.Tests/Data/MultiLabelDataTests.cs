using BertSharp.Data;

namespace BertSharp.Tests.Data;

/// <summary>The data behind the multi-label and regression problem types: label sets, CoNLL entity types, IMDB ratings.</summary>
public class MultiLabelDataTests
{
    [Fact]
    public void LabelSetsAreSeparatedNamesOrAJsonList()
    {
        Assert.Equal(["PER", "LOC"], MultiLabels.Parse(" PER | LOC |PER"));
        Assert.Equal(["PER", "LOC"], MultiLabels.Parse("PER;LOC", ";"));
        Assert.Equal(["a|b", "c"], MultiLabels.Parse("""["a|b", "c"]"""));
        Assert.Empty(MultiLabels.Parse(""));
        Assert.Empty(MultiLabels.Parse("[]"));
        Assert.Contains("JSON list", Assert.Throws<InvalidDataException>(() => MultiLabels.Parse("[1, 2]")).Message);
    }

    [Fact]
    public void ConllSentencesCarryTheEntityTypesTheyContain()
    {
        using var dir = new TempDir();
        var path = dir.Write("eng.sample", """
            -DOCSTART- -X- O O

            EU NNP I-NP I-ORG
            rejects VBZ I-VP O
            German JJ I-NP I-MISC
            call NN I-NP O

            Peter NNP I-NP I-PER
            Blackburn NNP I-NP I-PER
            in IN I-PP O
            London NNP I-NP I-LOC

            The DT I-NP O
            end NN I-NP O
            """);
        var data = TextDataset.Load(path);
        Assert.Equal(3, data.Count);
        Assert.Equal("EU rejects German call", data[0].Text);
        Assert.Equal("MISC|ORG", data[0].Label);
        Assert.Equal("LOC|PER", data[1].Label);
        Assert.Equal("", data[2].Label);
        Assert.Equal(8, data[1].Line);
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], MultiLabels.LabelMapOf(data).Id2Label);

        var bad = dir.Write("eng.bad", "word\n");
        Assert.Contains("eng.bad, line 1", Assert.Throws<InvalidDataException>(() => TextDataset.Load(bad)).Message);
    }

    [Fact]
    public void ImdbRatingsComeFromTheFileNames()
    {
        using var dir = new TempDir();
        dir.Write("pos/12_8.txt", "a fine film");
        dir.Write("neg/3_2.txt", "a dull film");
        var ratings = TextDataset.Load(dir.Root, new DatasetLoadOptions { LabelColumn = "rating" });
        Assert.Equal(["2", "8"], ratings.Select(e => e.Label));
        Assert.Equal("rating", ratings.LabelColumn);
        Assert.Equal(["neg", "pos"], TextDataset.Load(dir.Root).Select(e => e.Label));

        dir.Write("pos/bad.txt", "no rating in the name");
        Assert.Contains("bad.txt", Assert.Throws<InvalidDataException>(() => TextDataset.Load(dir.Root, new DatasetLoadOptions { LabelColumn = "rating" })).Message);
    }

    [Fact]
    public void EmptyLabelsAreRowsWithoutLabelsOnlyWhenAllowed()
    {
        using var dir = new TempDir();
        var path = dir.Write("tags.csv", "text,label\nhello,a|b\nnothing here,\n");
        Assert.Contains("the label", Assert.Throws<InvalidDataException>(() => TextDataset.Load(path)).Message);
        var data = TextDataset.Load(path, new DatasetLoadOptions { AllowEmptyLabels = true });
        Assert.Equal(["a|b", ""], data.Select(e => e.Label));
    }
}
