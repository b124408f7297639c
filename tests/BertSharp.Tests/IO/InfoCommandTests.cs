using System.Text.Json.Nodes;

namespace BertSharp.Tests.IO;

public class InfoCommandTests
{
    // google-research/bert's BERT-base uncased.
    private const string BertBaseConfig = """
        {"architectures": ["BertForMaskedLM"], "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2,
         "hidden_act": "gelu", "layer_norm_eps": 1e-12, "model_type": "bert"}
        """;

    [Fact]
    public void MiniLmCountsMatchTheIssue()
    {
        var r = CliRunner.Run("info", "--model", "minilm-l6");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("22,565,376", r.Stdout);
        Assert.Contains("22,713,216", r.Stdout);
        Assert.Contains("attention heads    12", r.Stdout);

        var json = JsonNode.Parse(CliRunner.Run("info", "--model", "minilm-l6", "--json").Stdout)!;
        Assert.Equal(22_565_376, (long)json["parameters"]!["embeddings_and_encoder"]!);
        Assert.Equal(22_713_216, (long)json["parameters"]!["with_pooler"]!);
        Assert.Equal(1_774_464, (long)json["parameters"]!["parts"]!["encoder.layer.3"]!);
        Assert.Equal(22_713_216L * 4, (long)json["inference_bytes"]!);
    }

    [Fact]
    public void BertBaseFromAConfigAloneIsAbout438MegabytesForInference()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("config.json"), BertBaseConfig);
        foreach (var args in new[] { new[] { "--config", dir.File("config.json") }, ["--model", dir.Path] })
        {
            var text = CliRunner.Run(["info", .. args]);
            Assert.Equal(0, text.ExitCode);
            Assert.Contains("109,482,240", text.Stdout);
            Assert.Contains("438 MB", text.Stdout);
        }

        var json = JsonNode.Parse(CliRunner.Run("info", "--config", dir.File("config.json"), "--json").Stdout)!;
        Assert.Equal(109_482_240, (long)json["parameters"]!["total"]!);
        Assert.Equal(437_928_960, (long)json["inference_bytes"]!);
        var training = json["training"]!;
        // Weights, gradients and two AdamW moments: 4 × parameters × 4 bytes.
        Assert.Equal(4L * 109_482_240 * 4, (long)training["weights_bytes"]! + (long)training["gradients_bytes"]! + (long)training["adamw_moments_bytes"]!);
        // docs/FORMATS.md's formula at B=8, T=128 by hand: 12 × (1024·(10·768 + 2·3072 + 4) + 2·8·12·128²)
        // + 1024·(2·768 + 2) + 3·8·768 = 209,260,544 floats.
        Assert.Equal(209_260_544L * 4, (long)training["activations_bytes"]!);
    }

    [Fact]
    public void ActivationsScaleWithBatchAndBadValuesAreUserErrors()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("config.json"), BertBaseConfig);
        long Activations(string batch) =>
            (long)JsonNode.Parse(CliRunner.Run("info", "--config", dir.File("config.json"), "--batch", batch, "--json").Stdout)!["training"]!["activations_bytes"]!;
        Assert.Equal(2 * Activations("8"), Activations("16"));

        var r = CliRunner.Run("info", "--config", dir.File("config.json"), "--batch", "0");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--batch", r.Stderr);
    }

    [Fact]
    public void MissingModelDirectoryIsAOneLineError()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("info", "--model", dir.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("config.json", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }
}
