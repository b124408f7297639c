using BertSharp.Data;

namespace BertSharp.Tests.Data;

/// <summary>Loads the shared sample data and checks the counts its README publishes.</summary>
public class RealDataTests
{
    [Fact]
    public void SentencePolarityTrainAndDev()
    {
        var train = TextDataset.Load(TestData.Path("sentence-polarity", "train.csv"));
        Assert.Equal(8530, train.Count);
        Assert.Equal(4248, train.Count(e => e.Label == "positive"));
        Assert.Equal(["text", "label"], train.Columns);
        Assert.Equal("a minor-league soccer remake of the longest yard .", train[0].Text);
        Assert.Equal("negative", train[0].Label);
        Assert.Equal(2, train[0].Line);

        var dev = TextDataset.Load(TestData.Path("sentence-polarity", "dev.csv"));
        Assert.Equal(1066, dev.Count);
        Assert.Equal(532, dev.Count(e => e.Label == "positive"));
        // A quoted field in the file: the quotes are removed.
        Assert.StartsWith("for all its brilliant touches , dragon", dev[0].Text);
        var map = LabelMap.FromTrainingData(train);
        Assert.Equal(["negative", "positive"], map.Id2Label);
        Assert.Equal(532, map.Encode(dev).Count(id => id == 1));
    }

    [Fact]
    public void Sst2Tsv()
    {
        var sst = TextDataset.Load(TestData.Path("sst2", "train.tsv"));
        Assert.Equal(67349, sst.Count);
        Assert.Equal(["sentence", "label"], sst.Columns);
        Assert.Equal([new("0", 29780), new("1", 37569)], sst.ClassBalance());
        Assert.Equal("hide new secretions from the parental units ", sst[0].Text);
    }

    [Fact]
    public void ImdbFolderWithTheSpecRecipe()
    {
        var dict = DatasetDict.Load(TestData.Path("imdb"));
        Assert.Equal(["train"], dict.Names);
        var train = dict["train"];
        Assert.Equal(25000, train.Count);
        Assert.Equal([new("neg", 12500), new("pos", 12500)], train.ClassBalance());
        Assert.EndsWith(Path.Combine("neg", "0_3.txt"), train[0].Source);
        Assert.DoesNotContain('\uFFFD', train[0].Text);

        // The spec's recipe: shuffle(seed=42).select(2000), then an 80/20 split.
        var small = train.Shuffle(42).Select(2000).TrainTestSplit(0.2);
        Assert.Equal(1600, small["train"].Count);
        Assert.Equal(400, small["test"].Count);
    }

    [Fact]
    public void TrecCoarseAndFineLabels()
    {
        string path = TestData.Path("trec", "train_5500.label");
        var coarse = TextDataset.Load(path);
        Assert.Equal(5452, coarse.Count);
        // Counts of `cut -d: -f1 train_5500.label | sort | uniq -c`.
        Assert.Equal(
            [new("ABBR", 86), new("DESC", 1162), new("ENTY", 1250), new("HUM", 1223), new("LOC", 835), new("NUM", 896)],
            coarse.ClassBalance());
        Assert.Equal("How did serfdom develop in and then leave Russia ?", coarse[0].Text);
        var fine = TextDataset.Load(path, new DatasetLoadOptions { LabelColumn = "fine_label" });
        Assert.Equal("DESC:manner", fine[0].Label);
    }
}
