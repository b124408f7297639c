using BertSharp.IO;

namespace BertSharp.Tests;

public class BuiltInModelsTests
{
    [Theory]
    [InlineData("minilm-l6")]
    [InlineData("arctic-xs")]
    public void VocabIsBertBaseUncased(string name)
    {
        using var reader = new StreamReader(BuiltInModels.OpenVocab(name));
        var lines = reader.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal("[PAD]", lines[0]);
        Assert.Equal("[CLS]", lines[101]);
        Assert.Equal("[SEP]", lines[102]);
        Assert.Equal("i", lines[1045]);
    }

    [Fact]
    public void UnknownNameListsTheBuiltIns()
    {
        var e = Assert.Throws<ArgumentException>(() => BuiltInModels.OpenOnnx("gpt-5"));
        Assert.Contains("minilm-l6", e.Message);
    }
}
