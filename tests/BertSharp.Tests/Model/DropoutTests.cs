using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class DropoutTests
{
    [Theory]
    [InlineData(0, 1000)]
    [InlineData(37, 1003)] // a vector body and a scalar tail
    [InlineData(1L << 33, 45)] // indices past 32 bits
    public void MasksAreTheScalarHashOfEachIndex(long offset, int length)
    {
        const float p = 0.3f;
        const ulong key = 0xDEADBEEF12345UL;
        var rng = new Random(1);
        var x = GradCheck.Uniform(rng, length);
        var y = new float[length];
        var mask = new float[length];
        Dropout.Forward(x, y, mask, p, key, offset);
        for (int i = 0; i < length; i++)
        {
            float expected = Dropout.Uniform(key, offset + i) >= p ? 1f / (1f - p) : 0f;
            Assert.Equal(expected, mask[i]);
            Assert.Equal(x[i] * expected, y[i]);
        }
        // In place gives the same.
        Dropout.Forward(x, x, new float[length], p, key, offset);
        Assert.Equal(y, x);
    }

    [Fact]
    public void MasksKeepOneMinusPAndAreIndependentAcrossKeysAndNeighbours()
    {
        const float p = 0.1f;
        const int n = 1 << 20;
        var a = new float[n];
        var b = new float[n];
        BertSharp.Tensors.DropoutMask.Fill(a, p, 41, 0);
        BertSharp.Tensors.DropoutMask.Fill(b, p, 42, 0);   // the next call's key
        double kept = a.Count(v => v != 0) / (double)n;
        Assert.InRange(kept, 0.9 - 0.002, 0.9 + 0.002);   // binomial sd 0.0003
        // Independent masks agree with probability p² + (1 − p)² = 0.82; neighbours likewise.
        double sameKeyPair = Enumerable.Range(0, n).Count(i => (a[i] != 0) == (b[i] != 0)) / (double)n;
        double neighbours = Enumerable.Range(1, n - 1).Count(i => (a[i] != 0) == (a[i - 1] != 0)) / (double)(n - 1);
        Assert.InRange(sameKeyPair, 0.82 - 0.003, 0.82 + 0.003);
        Assert.InRange(neighbours, 0.82 - 0.003, 0.82 + 0.003);
    }
}
