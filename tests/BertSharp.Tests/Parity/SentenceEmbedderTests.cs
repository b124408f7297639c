using System.Text.Json;
using BertSharp.Inference;

namespace BertSharp.Tests.Parity;

public class SentenceEmbedderTests
{
    private static readonly Lazy<SentenceEmbedder> MiniLm = new(() => SentenceEmbedder.Load("minilm-l6"));

    [Theory]
    [InlineData("minilm-l6")]
    [InlineData("arctic-xs")]
    public void MeanPooledEmbeddingsMatchOnnxRuntimesHiddenStatesPooledHere(string name)
    {
        var embedder = name == "minilm-l6" ? MiniLm.Value : SentenceEmbedder.Load(name);
        var vocab = PolaritySentences.Vocab(name);
        var ids = PolaritySentences.Texts(5, skip: 10).Select(s => PolaritySentences.Ids(vocab, s, 40)).ToArray();
        var input = PolaritySentences.Pad(ids);
        using var ort = new OnnxRuntimeEncoder(name, threads: 2);
        var hidden = ort.Run(input).Data;
        int T = input.SequenceLength, C = embedder.Dimension;
        var ours = embedder.Embed(input);
        var cls = embedder.Embed(input, SentenceEmbedder.Pooling.Cls, normalize: false);
        for (int b = 0; b < input.BatchSize; b++)
        {
            // sentence-transformers: sum of real tokens' states / their count, then x / ‖x‖.
            var expected = new double[C];
            for (int t = 0; t < ids[b].Length; t++)
                for (int c = 0; c < C; c++) expected[c] += hidden[(b * T + t) * C + c];
            double norm = Math.Sqrt(expected.Sum(v => v * v));
            for (int c = 0; c < C; c++)
            {
                Assert.True(Math.Abs(expected[c] / norm - ours.Data[b * C + c]) <= 1e-4, $"{name} sentence {b} dim {c}");
                Assert.True(Math.Abs(hidden[b * T * C + c] - cls.Data[b * C + c]) <= 1e-4, $"{name} [CLS] {b} dim {c}");
            }
        }
    }

    [Fact]
    public void TextsTokenizeToTheVocabsWordPiecesAndKeepTheirOrder()
    {
        var embedder = MiniLm.Value;
        var vocab = PolaritySentences.Vocab("minilm-l6");
        // ASCII lines: there the test's plain split and WordPiece are BERT's tokenization exactly.
        var texts = PolaritySentences.Texts(60, skip: 20).Where(t => t.All(char.IsAscii)).Take(6).ToArray();
        foreach (var text in texts) Assert.Equal(PolaritySentences.Ids(vocab, text, 512), embedder.Tokenize(text));
        // Upper case and accents fold as the uncased vocabulary expects.
        Assert.Equal(embedder.Tokenize("cafe deja vu!"), embedder.Tokenize("Café   DÉJÀ vu!"));
        // Embedding texts one by one or batched (sorted by length, padded) gives the same vectors.
        var batched = embedder.Embed(texts);
        for (int i = 0; i < texts.Length; i++)
        {
            var alone = embedder.Embed(texts[i]);
            for (int c = 0; c < alone.Length; c++) Assert.Equal(alone[c], batched[i][c], 1e-5);
        }
    }

    [Fact]
    public void AParaphraseRanksAboveAnUnrelatedSentence()
    {
        var embedder = MiniLm.Value;
        // Real review lines from the sample data; the paraphrase rewords the first.
        var texts = PolaritySentences.Texts(40);
        string original = texts[0], unrelated = texts[2];
        Assert.StartsWith("for all its brilliant touches , dragon loses its fire midway", original);
        const string paraphrase = "despite its brilliant moments, dragon runs out of steam halfway through and nearly fizzles out by its routine ending.";
        float close = embedder.Similarity(original, paraphrase), far = embedder.Similarity(original, unrelated);
        Assert.True(close > far + 0.2f, $"paraphrase {close}, unrelated {far}");
        Assert.Equal(1f, embedder.Similarity(original, original), 1e-5);
    }

    [Fact]
    public void EmbedAndSimilarityCommands()
    {
        var r = CliRunner.Run("embed", "--json", "a gentle, funny film", "the worst movie of the year");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var embeddings = doc.RootElement.GetProperty("embeddings");
        Assert.Equal(2, embeddings.GetArrayLength());
        Assert.Equal(384, doc.RootElement.GetProperty("dimension").GetInt32());
        foreach (var e in embeddings.EnumerateArray())
        {
            Assert.Equal(384, e.GetArrayLength());
            Assert.Equal(1.0, Math.Sqrt(e.EnumerateArray().Sum(v => v.GetDouble() * v.GetDouble())), 1e-5);
        }
        var expected = MiniLm.Value.Embed("a gentle, funny film");
        Assert.Equal(expected[0], embeddings[0][0].GetSingle(), 1e-6);

        var s = CliRunner.Run("similarity", "--json", "a gentle, funny film", "a gentle, funny film");
        Assert.True(s.ExitCode == 0, s.Stderr);
        using var sim = JsonDocument.Parse(s.Stdout);
        Assert.Equal(1.0, sim.RootElement.GetProperty("cosine_similarity").GetDouble(), 1e-5);

        // --input: one text per line, the same vectors as the arguments.
        var file = Path.Combine(Path.GetTempPath(), $"bertsharp-embed-{Guid.NewGuid():N}.txt");
        File.WriteAllLines(file, ["a gentle, funny film", "the worst movie of the year"]);
        try
        {
            var fromFile = CliRunner.Run("embed", "--input", file);
            Assert.True(fromFile.ExitCode == 0, fromFile.Stderr);
            var lines = fromFile.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            var second = lines[1].Split(' ').Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(384, second.Length);
            for (int c = 0; c < 384; c++) Assert.Equal(embeddings[1][c].GetSingle(), second[c]);
        }
        finally
        {
            File.Delete(file);
        }
        var missing = CliRunner.Run("embed", "--input", "/no/such/file.txt");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("/no/such/file.txt", missing.Stderr);

        var bad = CliRunner.Run("embed", "--pooling", "max", "x");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--pooling", bad.Stderr);
        var none = CliRunner.Run("embed");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("nothing to embed", none.Stderr);
    }
}
