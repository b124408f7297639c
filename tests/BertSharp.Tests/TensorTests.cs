using BertSharp.Tensors;

namespace BertSharp.Tests;

public class TensorTests
{
    [Fact]
    public void ShapeMismatchIsReported()
    {
        var e = Assert.Throws<ArgumentException>(() => new FloatTensor([2, 3], new float[5]));
        Assert.Contains("[2, 3]", e.Message);
    }
}
