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
}
