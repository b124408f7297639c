using BertSharp.Data;

namespace BertSharp.Tests.Data;

public class TextDatasetTests
{
    private static TextDataset Make(params (string Text, string Label)[] rows) =>
        new(rows.Select(r => new LabeledExample(r.Text, null, r.Label)));

    private static TextDataset Labels(int a, int b) =>
        Make([.. Enumerable.Range(0, a).Select(i => ($"a{i}", "a")), .. Enumerable.Range(0, b).Select(i => ($"b{i}", "b"))]);

    [Fact]
    public void ShuffleIsTheDocumentedFisherYates()
    {
        var ds = Make([.. Enumerable.Range(0, 10).Select(i => (i.ToString(), "x"))]);
        // Same permutation as SplitMix64Tests' independent implementation for seed 42.
        Assert.Equal(["8", "3", "6", "5", "4", "0", "9", "2", "1", "7"], ds.Shuffle(42).Select(e => e.Text));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString()), ds.Select(e => e.Text)); // original untouched
    }

    [Fact]
    public void SelectTakesTheFirstNOrTheGivenIndices()
    {
        var ds = Make(("a", "x"), ("b", "y"), ("c", "x"));
        Assert.Equal(["a", "b"], ds.Select(2).Select(e => e.Text));
        Assert.Equal(3, ds.Select(10).Count);
        Assert.Equal(["c", "a", "c"], ds.Select([2, 0, 2]).Select(e => e.Text));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ds.Select([0, 3]));
        Assert.Contains("index 3", e.Message);
    }

    [Fact]
    public void StratifiedSplitKeepsTheShareOfEachLabel()
    {
        // 10 a + 5 b, test 0.2: ⌈0.2 × 15⌉ = 3 test examples; a gets 3 × 10/15 = 2, b gets 3 × 5/15 = 1.
        var split = Labels(10, 5).TrainTestSplit(0.2, seed: 1);
        Assert.Equal(["train", "test"], split.Names);
        Assert.Equal(2, split["test"].Count(e => e.Label == "a"));
        Assert.Equal(1, split["test"].Count(e => e.Label == "b"));
        Assert.Equal(8, split["train"].Count(e => e.Label == "a"));
        Assert.Equal(4, split["train"].Count(e => e.Label == "b"));
    }

    [Fact]
    public void StratifiedSplitGivesTheLeftoverToTheLargestRemainder()
    {
        // 7 a + 3 b, test 0.25: ⌈2.5⌉ = 3; exact shares a 3 × 7/10 = 2.1, b 3 × 3/10 = 0.9;
        // floors 2 and 0 leave one, which goes to b (remainder 0.9 > 0.1): test = 2 a + 1 b.
        var test = Labels(7, 3).TrainTestSplit(0.25, seed: 5)["test"];
        Assert.Equal(2, test.Count(e => e.Label == "a"));
        Assert.Equal(1, test.Count(e => e.Label == "b"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SplitIsAPartitionAndDependsOnlyOnTheSeed(bool stratify)
    {
        var ds = Labels(40, 20);
        var one = ds.TrainTestSplit(0.3, seed: 3, stratify);
        var again = ds.TrainTestSplit(0.3, seed: 3, stratify);
        var other = ds.TrainTestSplit(0.3, seed: 4, stratify);
        Assert.Equal(18, one["test"].Count); // ⌈0.3 × 60⌉
        Assert.Equal(42, one["train"].Count);
        var all = one["train"].Concat(one["test"]).Select(e => e.Text).Order().ToArray();
        Assert.Equal(ds.Select(e => e.Text).Order(), all);
        Assert.Equal(one["test"].Select(e => e.Text), again["test"].Select(e => e.Text));
        Assert.NotEqual(one["test"].Select(e => e.Text), other["test"].Select(e => e.Text));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(0.01)] // ⌈0.01 × 4⌉ = 1 is fine ...
    public void SplitRejectsSizesThatLeaveAPartEmpty(double size)
    {
        var ds = Labels(2, 2);
        if (size == 0.01)
        {
            Assert.Single(ds.TrainTestSplit(size)["test"]);
            Assert.Throws<ArgumentOutOfRangeException>(() => ds.TrainTestSplit(0.99)); // ... ⌈3.96⌉ = 4 is not
        }
        else
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => ds.TrainTestSplit(size));
        }
    }

    [Fact]
    public void ClassBalanceCountsEachLabel()
    {
        var ds = Labels(3, 1);
        Assert.Equal([new("a", 3), new("b", 1)], ds.ClassBalance());
        string text = ds.DescribeClassBalance();
        Assert.Contains("75.0%", text); // 3 of 4
        Assert.Contains("25.0%", text);
    }

    [Fact]
    public void DatasetDictRemovesRenamesAndPopsSplitsAsTheSpecDoes()
    {
        // The spec: train_test_split, then dataset['validation'] = dataset.pop('test'); del dataset['unsupervised'].
        var dict = Labels(8, 8).TrainTestSplit(0.25);
        dict["validation"] = dict.Pop("test");
        Assert.Equal(["train", "validation"], dict.Names);
        Assert.Equal(4, dict["validation"].Count);
        dict["unsupervised"] = Labels(1, 1);
        Assert.True(dict.Remove("unsupervised"));
        Assert.False(dict.Remove("unsupervised"));
        dict.Rename("validation", "dev");
        Assert.Equal(["train", "dev"], dict.Names);
        var e = Assert.Throws<KeyNotFoundException>(() => dict["test"]);
        Assert.Contains("train, dev", e.Message);
        Assert.Throws<ArgumentException>(() => dict.Rename("dev", "train"));
        Assert.Contains("num_rows: 12", dict.ToString());
        string summary = dict.DescribeClassBalance();
        Assert.Contains("train (12 examples)", summary);
        Assert.Contains("dev (4 examples)", summary);
    }
}
