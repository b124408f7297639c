using System.Text.Json.Nodes;
using BertSharp.Inference;
using Microsoft.Extensions.AI;

namespace BertSharp.Tests.Parity;

/// <summary>BertSharp through Microsoft.Extensions.AI's embedding interface gives what <c>bertsharp embed</c> prints.</summary>
public sealed class EmbeddingGeneratorTests
{
    private static readonly string[] Texts = ["a gentle, funny film", "a dull movie", "The cat sat on the mat."];

    [Fact]
    public async Task TheGeneratorGivesTheVectorsBertsharpEmbedPrints()
    {
        using IEmbeddingGenerator<string, Embedding<float>> generator = await SentenceEmbedder.LoadAsync("minilm-l6");
        var generated = await generator.GenerateAsync(Texts);

        var cli = CliRunner.Run(["embed", "--model", "minilm-l6", "--json", .. Texts]);
        Assert.Equal(0, cli.ExitCode);
        var printed = JsonNode.Parse(cli.Stdout)!["embeddings"]!.AsArray().Select(e => e!.AsArray().Select(v => v!.GetValue<float>()).ToArray()).ToArray();

        Assert.Equal(printed.Length, generated.Count);
        for (int i = 0; i < printed.Length; i++) Assert.Equal(printed[i], generated[i].Vector.ToArray());
        Assert.All(generated, e => Assert.Equal("minilm-l6", e.ModelId));
        // [CLS] and [SEP] around each text's pieces.
        var embedder = (SentenceEmbedder)generator;
        Assert.Equal(Texts.Sum(t => embedder.Tokenizer.Encode(t).Ids.Length), generated.Usage!.InputTokenCount);

        var metadata = generator.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal(("bertsharp", "minilm-l6", 384), (metadata.ProviderName, metadata.DefaultModelId, metadata.DefaultModelDimensions));
        Assert.Same(generator, generator.GetService<SentenceEmbedder>());

        // No other length or model can be given: asked for one, the generator says so rather than answering with its own.
        await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(Texts, new EmbeddingGenerationOptions { Dimensions = 128 }));
        await Assert.ThrowsAsync<ArgumentException>(() => generator.GenerateAsync(Texts, new EmbeddingGenerationOptions { ModelId = "text-embedding-3-small" }));
        Assert.Equal(generated[0].Vector.ToArray(), (await generator.GenerateAsync([Texts[0]], new EmbeddingGenerationOptions { Dimensions = 384 }))[0].Vector.ToArray());

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => generator.GenerateAsync(Texts, cancellationToken: cancelled.Token));
    }
}
