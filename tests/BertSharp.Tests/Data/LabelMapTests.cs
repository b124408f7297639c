using BertSharp.Data;

namespace BertSharp.Tests.Data;

public class LabelMapTests
{
    [Fact]
    public void IntegerLabelsSortNumericallyAndStringsOrdinally()
    {
        Assert.Equal(["1", "2", "10"], LabelMap.FromLabels(["10", "2", "1", "2"]).Id2Label);
        Assert.Equal(["neg", "pos"], LabelMap.FromLabels(["pos", "neg", "pos"]).Id2Label);
        Assert.Equal(["10", "2", "x"], LabelMap.FromLabels(["x", "2", "10"]).Id2Label); // mixed → ordinal
        var map = LabelMap.FromLabels(["positive", "negative"]);
        Assert.Equal(0, map.Label2Id["negative"]);
        Assert.Equal(1, map.IdOf("positive"));
        Assert.Equal("positive", map[1]);
    }

    [Fact]
    public void Id2LabelFromAConfigRoundTrips()
    {
        var map = LabelMap.FromId2Label(new Dictionary<int, string> { [1] = "POSITIVE", [0] = "NEGATIVE" });
        Assert.Equal(["NEGATIVE", "POSITIVE"], map.Id2Label);
        Assert.Throws<ArgumentException>(() => LabelMap.FromId2Label(new Dictionary<int, string> { [0] = "a", [2] = "b" }));
    }

    [Fact]
    public void UnknownLabelInEvalDataNamesTheFileAndLine()
    {
        using var tmp = new TempDir();
        string train = tmp.Write("train.csv", "text,label\ngood,positive\nbad,negative\n");
        string dev = tmp.Write("dev.csv", "text,label\nfine,positive\nmeh,neutral\n");
        var map = LabelMap.FromTrainingData(TextDataset.Load(train));
        var e = Assert.Throws<InvalidDataException>(() => map.Encode(TextDataset.Load(dev)));
        Assert.Contains($"{dev}, line 3", e.Message);
        Assert.Contains("'neutral'", e.Message);
        Assert.Equal([1, 0], map.Encode(TextDataset.Load(train)));
    }

    [Fact]
    public void AnUnknownLabelErrorIsBoundedWhateverTheFileHolds()
    {
        // A 100,000-character label came back whole, and a model of 300 classes listed every one.
        using var tmp = new TempDir();
        string train = tmp.Write("train.csv", "text,label\n" + string.Concat(Enumerable.Range(0, 300).Select(i => $"text {i},class_{i:D4}\n")));
        string dev = tmp.Write("dev.csv", "text,label\nfine," + new string('x', 100_000) + "\n");
        var map = LabelMap.FromTrainingData(TextDataset.Load(train));
        var e = Assert.Throws<InvalidDataException>(() => map.Encode(TextDataset.Load(dev)));
        Assert.Equal($"{dev}, line 2: label '{new string('x', 40)}… (100,000 characters)' is not one of the model's labels "
            + $"({string.Join(", ", Enumerable.Range(0, 20).Select(i => $"class_{i:D4}"))}, … (300 in all))", e.Message);
    }

    [Fact]
    public void ASingleClassInTrainingDataIsAnError()
    {
        using var tmp = new TempDir();
        string train = tmp.Write("train.csv", "text,label\ngood,positive\nfine,positive\n");
        var e = Assert.Throws<InvalidDataException>(() => LabelMap.FromTrainingData(TextDataset.Load(train)));
        Assert.Contains(train, e.Message);
        Assert.Contains("'positive'", e.Message);
        Assert.Contains("two classes", e.Message);
    }
}
