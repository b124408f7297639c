using BertSharp.Data;

namespace BertSharp.Tests.Data;

public class ClassWeightsTests
{
    private static readonly LabelMap Map = LabelMap.FromLabels(["a", "b"]);

    [Fact]
    public void BalancedIsSamplesOverClassesTimesCount()
    {
        // 6 a and 2 b: a = 8 / (2 × 6) = 0.6667, b = 8 / (2 × 2) = 2 (sklearn's compute_class_weight).
        int[] ids = [0, 0, 0, 0, 0, 0, 1, 1];
        var w = ClassWeights.Parse("balanced", Map, ids);
        Assert.Equal(8.0 / 12, w[0], 1e-6);
        Assert.Equal(2.0, w[1], 1e-6);
    }

    [Fact]
    public void ExplicitWeightsAreCheckedAgainstTheLabels()
    {
        Assert.Equal([1f, 3.5f], ClassWeights.Parse("1, 3.5", Map, []));
        var count = Assert.Throws<ArgumentException>(() => ClassWeights.Parse("1,2,3", Map, []));
        Assert.Contains("3 values", count.Message);
        Assert.Contains("2 labels (0: a, 1: b)", count.Message);
        var negative = Assert.Throws<ArgumentException>(() => ClassWeights.Parse("1,-2", Map, []));
        Assert.Contains("'-2' for label 'b'", negative.Message);
        Assert.Throws<ArgumentException>(() => ClassWeights.Parse("1,x", Map, []));
    }

    [Fact]
    public void BalancedNeedsEveryClass()
    {
        var e = Assert.Throws<ArgumentException>(() => ClassWeights.Balanced([0, 0], Map));
        Assert.Contains("'b'", e.Message);
    }
}
