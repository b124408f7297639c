using System.Text.Json;
using BertSharp.Inference;
using BertSharp.Server;
using BertSharp.Tests.IO;
using BertSharp.Tests.Model;

namespace BertSharp.Tests.Server;

public sealed class FillMaskEndpointTests
{
    [Fact]
    public async Task FillMaskAnswersWithThePipelinesProbabilitiesAndRejectsTextsWithoutAMask()
    {
        using var dir = new TempDir();
        MaskedLmTests.PreTrainingDirectory(dir.Path);
        using var pipeline = FillMaskPipeline.Load(dir.Path);
        var app = BertServer.Build(pipeline, new ServerOptions { Urls = "http://127.0.0.1:0", ModelName = "tiny-mlm" });
        await app.StartAsync();
        await using var server = new RunningServer(app);

        using var ok = await server.PostJsonAsync("/v1/fill-mask", "{\"texts\": [\"the [MASK] film [MASK]\", \"a [mask] film\"], \"top_k\": 3}");
        Assert.Equal(200, (int)ok.StatusCode);
        var json = JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement;
        var expected = pipeline.FillBatch(["the [MASK] film [MASK]", "a [mask] film"], topK: 3);
        var results = json.GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());
        for (int r = 0; r < 2; r++)
        {
            var masks = results[r].GetProperty("masks");
            Assert.Equal(expected[r].Masks.Count, masks.GetArrayLength());
            for (int m = 0; m < masks.GetArrayLength(); m++)
                for (int k = 0; k < 3; k++)
                {
                    Assert.Equal(expected[r].Masks[m][k].TokenId, masks[m][k].GetProperty("token").GetInt32());
                    Assert.Equal(expected[r].Masks[m][k].Score, masks[m][k].GetProperty("score").GetSingle(), 6);
                }
        }

        using var targeted = await server.PostJsonAsync("/v1/fill-mask", "{\"text\": \"the [MASK] film\", \"targets\": [\"good\", \"zebra\"]}");
        var t = JsonDocument.Parse(await targeted.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("good", t.GetProperty("results")[0].GetProperty("masks")[0][0].GetProperty("token_str").GetString());
        Assert.Equal("zebra", t.GetProperty("missing_targets")[0].GetString());

        foreach (var (body, code) in new[] { ("{\"text\": \"no mask here\"}", "no_mask"), ("{\"text\": \"a [MASK]\", \"targets\": [\"zebra\"]}", "unknown_targets"),
            ("{\"text\": \"a [MASK]\", \"targets\": \"good\"}", "invalid_field") })
        {
            using var bad = await server.PostJsonAsync("/v1/fill-mask", body);
            Assert.Equal(422, (int)bad.StatusCode);
            Assert.Contains(code, await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
