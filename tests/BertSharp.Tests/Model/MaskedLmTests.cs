using System.Text;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Model;

public class MaskedLmTests
{
    /// <summary>
    /// A random Hugging Face BertForPreTraining directory as HF's safetensors files hold one: encoder, pooler,
    /// cls.predictions.transform.*, cls.predictions.bias, cls.seq_relationship.*, and no decoder weight (tied).
    /// With <paramref name="oldNames"/> the head's LayerNorm is named gamma/beta as TF-era checkpoints have it; with
    /// <paramref name="untied"/> the config says <c>tie_word_embeddings: false</c> and the decoder has a weight of its own.
    /// </summary>
    internal static PretrainedModel PreTrainingDirectory(string path, bool oldNames = false, int seed = 3, bool untied = false)
    {
        var config = TinyModel.Config() with { Architectures = [nameof(BertForPreTraining)], TieWordEmbeddings = untied ? false : null };
        var rng = new Random(seed);
        var weights = new StateDict();
        foreach (var (name, t) in TinyModel.Weights(config, seed)) weights[name] = t;
        int C = config.HiddenSize, V = config.VocabSize;
        string ln = "cls.predictions.transform.LayerNorm.";
        weights["cls.predictions.transform.dense.weight"] = Random(rng, [C, C], 0.5f);
        weights["cls.predictions.transform.dense.bias"] = Random(rng, [C], 0.5f);
        weights[ln + (oldNames ? "gamma" : "weight")] = Random(rng, [C], 0.3f, 1f);
        weights[ln + (oldNames ? "beta" : "bias")] = Random(rng, [C], 0.3f);
        weights["cls.predictions.bias"] = Random(rng, [V], 0.5f);
        weights["cls.seq_relationship.weight"] = Random(rng, [2, C], 0.5f);
        weights["cls.seq_relationship.bias"] = Random(rng, [2], 0.5f);
        if (untied) weights["cls.predictions.decoder.weight"] = Random(rng, [V, C], 0.5f);
        var model = new PretrainedModel
        {
            Config = config,
            Weights = weights,
            Source = path,
            OpenVocab = () => new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", TinyModel.Vocab) + "\n")),
            ModelMaxLength = 16,
        };
        model.Save(path);
        return model;
    }

    /// <summary>
    /// HF's BertForPreTraining masked-LM probabilities in float64, written from modeling_bert.py with plain loops:
    /// softmax(LN(gelu(h W₁ᵀ + b₁)) Eᵀ + b) at position (b, t), E the word embeddings (the decoder's own weight when untied).
    /// </summary>
    internal static double[] ReferenceProbabilities(BertConfig config, StateDict checkpoint, BertInput input, int b, int t)
    {
        var bare = new StateDict();
        foreach (var (name, tensor) in checkpoint.WithCheckpointNames())
            bare[name.StartsWith("bert.", StringComparison.Ordinal) ? name[5..] : name] = tensor;
        var hidden = ReferenceBert.Forward(config, bare, input).LastHidden;
        int C = config.HiddenSize, V = config.VocabSize;
        var w = bare["cls.predictions.transform.dense.weight"].Data;
        var x = new double[C];
        for (int o = 0; o < C; o++)
        {
            double s = bare["cls.predictions.transform.dense.bias"].Data[o];
            for (int i = 0; i < C; i++) s += hidden[b, t, i] * w[o * C + i];
            x[o] = 0.5 * s * (1 + ReferenceBert.Erf(s / Math.Sqrt(2)));
        }
        double mean = x.Average(), variance = x.Select(v => (v - mean) * (v - mean)).Average();
        for (int i = 0; i < C; i++)
            x[i] = (x[i] - mean) / Math.Sqrt(variance + config.LayerNormEps) * bare["cls.predictions.transform.LayerNorm.weight"].Data[i]
                + bare["cls.predictions.transform.LayerNorm.bias"].Data[i];
        var e = bare[config.TieWordEmbeddings == false ? "cls.predictions.decoder.weight" : "embeddings.word_embeddings.weight"].Data;
        var logits = new double[V];
        for (int v = 0; v < V; v++)
        {
            double s = bare["cls.predictions.bias"].Data[v];
            for (int i = 0; i < C; i++) s += x[i] * e[v * C + i];
            logits[v] = s;
        }
        double max = logits.Max(), sum = logits.Sum(z => Math.Exp(z - max));
        return [.. logits.Select(z => Math.Exp(z - max) / sum)];
    }

    private static FloatTensor Random(Random rng, int[] shape, float scale, float centre = 0f)
    {
        var t = new FloatTensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = centre + (float)((rng.NextDouble() * 2 - 1) * scale);
        return t;
    }

    private static BertInput Input() => new(2, 6,
        [2, 5, 4, 7, 3, 0, 2, 4, 8, 4, 10, 3],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedLmProbabilitiesOfAnHfPreTrainingDirectoryMatchAFloat64Reference(bool oldNames)
    {
        using var dir = new TempDir();
        var written = PreTrainingDirectory(dir.Path, oldNames);
        var loaded = PretrainedModel.Load(dir.Path);
        Assert.DoesNotContain(loaded.Weights.Keys, k => k.Contains("decoder", StringComparison.Ordinal));
        var model = Assert.IsType<BertForPreTraining>(TaskModels.Load(loaded.Config, loaded.Weights));
        var input = Input();
        int[] positions = [2, 7, 9];
        var logits = model.MaskedLogits(input, positions);
        // The full (batch, sequence, vocab) output agrees with the rows-only path.
        var full = model.Logits(input);
        int V = model.VocabSize;
        for (int r = 0; r < positions.Length; r++)
        {
            var row = logits.AsSpan(r * V, V).ToArray();
            for (int v = 0; v < V; v++) Assert.Equal(full[positions[r] * V + v], row[v], 1e-5f);
            System.Numerics.Tensors.TensorPrimitives.SoftMax(row, row);
            var expected = ReferenceProbabilities(written.Config, written.Weights, input, positions[r] / 6, positions[r] % 6);
            for (int v = 0; v < V; v++) Assert.True(Math.Abs(row[v] - expected[v]) <= 1e-4, $"position {positions[r]}, token {v}: {row[v]} vs {expected[v]}");
        }
    }

    [Fact]
    public void AnUntiedDecoderIsLoadedUsedAndSavedAsAWeightOfItsOwn()
    {
        using var dir = new TempDir();
        var written = PreTrainingDirectory(dir.Path, untied: true);
        var loaded = PretrainedModel.Load(dir.Path);
        Assert.False(loaded.Config.TieWordEmbeddings);
        var model = Assert.IsType<BertForPreTraining>(TaskModels.Load(loaded.Config, loaded.Weights));
        var input = Input();
        int V = model.VocabSize;
        var row = model.MaskedLogits(input, [7]);
        System.Numerics.Tensors.TensorPrimitives.SoftMax(row, row);
        var expected = ReferenceProbabilities(written.Config, written.Weights, input, 1, 1);
        for (int v = 0; v < V; v++) Assert.True(Math.Abs(row[v] - expected[v]) <= 1e-4, $"token {v}: {row[v]} vs {expected[v]}");
        // Saved under HF's name, apart from the word embeddings, and the config keeps saying so.
        var state = model.ToStateDict();
        Assert.Equal(written.Weights["cls.predictions.decoder.weight"].Data, state["cls.predictions.decoder.weight"].Data);
        Assert.NotEqual(state["bert.embeddings.word_embeddings.weight"].Data, state["cls.predictions.decoder.weight"].Data);
        // Without its weight an untied head is incomplete: an error naming the tensor, not a silently tied decoder.
        var missing = new StateDict { Source = "no-decoder" };
        foreach (var (k, v) in loaded.Weights) if (!k.Contains("decoder", StringComparison.Ordinal)) missing[k] = v;
        var e = Assert.ThrowsAny<Exception>(() => TaskModels.Load(loaded.Config, missing));
        Assert.Contains("cls.predictions.decoder.weight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FillMaskPipelineProbabilitiesMatchTheFloat64ReferenceForSeveralMasks()
    {
        using var dir = new TempDir();
        var written = PreTrainingDirectory(dir.Path);
        using var pipeline = BertSharp.Inference.FillMaskPipeline.Load(dir.Path);
        var result = pipeline.FillBatch(["the [MASK] film [mask] good", "a <MASK> film"], topK: TinyModel.Vocab.Length);
        var tokenizer = pipeline.Tokenizer;
        foreach (var (r, text) in new[] { "the [MASK] film [MASK] good", "a [MASK] film" }.Index())
        {
            var encoding = tokenizer.Encode(text);
            var input = new BertInput(1, encoding.Length, encoding.Ids, encoding.TypeIds, encoding.AttentionMask);
            var masks = Enumerable.Range(0, encoding.Length).Where(t => encoding.Ids[t] == pipeline.MaskId).ToArray();
            Assert.Equal(masks.Length, result[r].Masks.Count);
            foreach (var (m, t) in masks.Index())
            {
                var expected = ReferenceProbabilities(written.Config, written.Weights, input, 0, t);
                var candidates = result[r].Masks[m];
                Assert.Equal(TinyModel.Vocab.Length, candidates.Count);
                Assert.True(candidates.Zip(candidates.Skip(1)).All(p => p.First.Score >= p.Second.Score));
                foreach (var c in candidates) Assert.True(Math.Abs(c.Score - expected[c.TokenId]) <= 1e-4, $"{c.Token}: {c.Score} vs {expected[c.TokenId]}");
            }
        }
        // Targets: each word's probability over the whole vocabulary; a word the vocabulary lacks is reported, not guessed.
        var targeted = pipeline.Fill("the [MASK] film", topK: 5, targets: ["good", "bad"]).Masks[0];
        var all = pipeline.Fill("the [MASK] film", topK: TinyModel.Vocab.Length).Masks[0];
        Assert.Equal(2, targeted.Count);
        foreach (var c in targeted) Assert.Equal(all.Single(a => a.TokenId == c.TokenId).Score, c.Score);
        Assert.Equal([7, 8, null], pipeline.TargetIds(["film", "Good", "zebra"]));
        Assert.Contains("has no [MASK] to fill", Assert.Throws<ArgumentException>(() => pipeline.Fill("the film", topK: 5)).Message);
        // Past the model's length, even past 512 tokens, the mask is there but out of reach.
        string far = string.Concat(Enumerable.Repeat("film ", 2000)) + "[MASK]";
        Assert.Contains($"its [MASK] lies beyond the model's {pipeline.MaxLength} tokens", Assert.Throws<ArgumentException>(() => pipeline.Fill(far, topK: 5)).Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExportedPreTrainingGraphGivesTheReferenceProbabilitiesAndNextSentenceLogitsInOnnxRuntime(bool untied)
    {
        using var dir = new TempDir();
        var written = PreTrainingDirectory(dir.Path, untied: untied);
        var loaded = PretrainedModel.Load(dir.Path);
        var model = Assert.IsType<BertForPreTraining>(TaskModels.Load(loaded.Config, loaded.Weights));
        string path = Path.Combine(dir.Path, "model.onnx");
        OnnxExporter.Export(loaded, path);
        // The decoder is read from the one word-embedding initializer when tied, not stored a second time.
        var graph = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        int V = model.VocabSize, C = loaded.Config.HiddenSize;
        Assert.Equal(untied ? 2 : 1, graph.Initializer.Count(t => t.Dims.SequenceEqual([(long)V, C])));
        using var ort = new BertSharp.Tests.Onnx.Ort(path, optimize: true, threads: 1);
        var input = Input();
        var outputs = ort.Run(input, "logits", "seq_relationship_logits");
        Assert.Equal([2L, 6, V], outputs["logits"].Shape);
        var managed = model.Logits(input);
        for (int i = 0; i < managed.Length; i++) Assert.Equal(managed[i], outputs["logits"].Data[i], 1e-4f);
        foreach (int position in new[] { 2, 7, 9 })
        {
            var row = outputs["logits"].Data.AsSpan(position * V, V).ToArray();
            System.Numerics.Tensors.TensorPrimitives.SoftMax(row, row);
            var expected = ReferenceProbabilities(written.Config, written.Weights, input, position / 6, position % 6);
            for (int v = 0; v < V; v++) Assert.True(Math.Abs(row[v] - expected[v]) <= 1e-4, $"position {position}, token {v}: {row[v]} vs {expected[v]}");
        }
        Assert.Equal([2L, 2], outputs["seq_relationship_logits"].Shape);
        var nsp = model.NextSentenceLogits(input);
        for (int i = 0; i < nsp.Length; i++) Assert.Equal(nsp[i], outputs["seq_relationship_logits"].Data[i], 1e-4f);
    }

    [Fact]
    public void FillMaskOnTheExportedMaskedLmGivesTheManagedCandidates()
    {
        using var dir = new TempDir();
        PreTrainingDirectory(dir.Path);
        var loaded = PretrainedModel.Load(dir.Path);
        var masked = new BertForMaskedLM(loaded.Config, loaded.Weights);
        string mlmDir = Path.Combine(dir.Path, "mlm");
        HfDirectory.Save(mlmDir, masked.Config, masked.ToStateDict(), loaded.OpenVocab, doLowerCase: true, modelMaxLength: 16);
        OnnxExporter.Export(PretrainedModel.Load(mlmDir), Path.Combine(mlmDir, "model.onnx"));
        using var onnx = BertSharp.Inference.FillMaskPipeline.Load(mlmDir, BertSharp.Inference.InferenceRuntime.Onnx, threads: 1);
        using var managed = BertSharp.Inference.FillMaskPipeline.Load(mlmDir);
        string[] texts = ["the [MASK] film [MASK] good", "a [MASK] film"];
        var expected = managed.FillBatch(texts, topK: 5);
        var actual = onnx.FillBatch(texts, topK: 5);
        foreach (var (e, a) in expected.Zip(actual))
            foreach (var (em, am) in e.Masks.Zip(a.Masks))
            {
                Assert.Equal(em.Select(c => c.TokenId), am.Select(c => c.TokenId));
                foreach (var (ec, ac) in em.Zip(am)) Assert.Equal(ec.Score, ac.Score, 1e-5f);
            }
    }

    [Fact]
    public void SavesWithoutTheDecoderAndReloadsTheSameModel()
    {
        using var dir = new TempDir();
        PreTrainingDirectory(dir.Path);
        var loaded = PretrainedModel.Load(dir.Path);
        var model = (BertForPreTraining)TaskModels.Load(loaded.Config, loaded.Weights)!;
        var state = model.ToStateDict();
        Assert.DoesNotContain(state.Keys, k => k.Contains("decoder", StringComparison.Ordinal));
        Assert.Contains("cls.predictions.bias", state.Keys);
        Assert.Contains("cls.seq_relationship.weight", state.Keys);
        // A checkpoint that stores the decoder (PyTorch's state_dict keeps both names) loads to the same model.
        var withDecoder = new StateDict { Source = "with-decoder" };
        foreach (var (k, v) in state) if (k != "cls.predictions.bias") withDecoder[k] = v;
        withDecoder["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"];
        withDecoder["cls.predictions.decoder.bias"] = state["cls.predictions.bias"];
        var again = new BertForPreTraining(loaded.Config, withDecoder);
        var input = Input();
        Assert.Equal(model.Logits(input), again.Logits(input));
        Assert.Equal(model.NextSentenceLogits(input), again.NextSentenceLogits(input));
    }

    [Fact]
    public void AnEncoderWithoutAHeadGetsHfsInitialisation()
    {
        var config = TinyModel.Config();
        var model = new BertForMaskedLM(config, TinyModel.Weights(config));
        var state = model.ToStateDict();
        Assert.All(state["cls.predictions.bias"].Data, v => Assert.Equal(0f, v));
        Assert.All(state["cls.predictions.transform.LayerNorm.weight"].Data, v => Assert.Equal(1f, v));
        Assert.All(state["cls.predictions.transform.dense.bias"].Data, v => Assert.Equal(0f, v));
        var dense = state["cls.predictions.transform.dense.weight"].Data;
        double std = Math.Sqrt(dense.Select(v => (double)v * v).Average());
        Assert.InRange(std, 0.01, 0.03); // normal(0, initializer_range 0.02)
        Assert.Same(state["bert.embeddings.word_embeddings.weight"], model.Bert.WordEmbeddings.Value);
    }

    [Fact]
    public void APartialHeadIsAnErrorNamingTheTensor()
    {
        var config = TinyModel.Config();
        var weights = TinyModel.Weights(config);
        weights["cls.predictions.transform.dense.weight"] = new FloatTensor([config.HiddenSize, config.HiddenSize]);
        var e = Assert.ThrowsAny<Exception>(() => new BertForMaskedLM(config, weights));
        Assert.Contains("cls.predictions", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, 0f)]
    [InlineData(true, 0f)]
    [InlineData(true, 0.1f)] // dropout masks replayed for every difference
    public void MaskedLmAndNextSentenceGradientsMatchFiniteDifferences(bool nextSentence, float dropout)
    {
        var config = GradCheck.TinyConfig(dropout) with { Id2Label = null };
        BertMaskedLanguageModel model = nextSentence ? BertForPreTraining.CreateRandom(config, 5) : BertForMaskedLM.CreateRandom(config, 5);
        // Smaller weights and step than the classifier's check: the loss curves more here (the word embeddings enter
        // twice, the pooler and the vocabulary softmax both), and at h = 1e-2 the central difference's h² error
        // reached the tolerance (it fell 4-fold per halving of h, so it was truncation, not a wrong gradient).
        GradCheck.Randomize(model.Parameters, 6, scale: 0.3f);
        var input = GradCheck.TinyInput();
        var ignore = BertPreTrainedModel.IgnoreIndex;
        int[] tokens = [ignore, 9, ignore, 11, ignore, ignore, 4, 21, ignore, ignore];
        var batch = new TaskBatch { Input = input, Labels = nextSentence ? [.. tokens, 1, 0] : tokens };
        // Encoder (37; 39 with the pooler), the head's dense and LayerNorm (4), its bias (1), the NSP layer (2); the
        // decoder is the word embeddings, checked once with both of its gradients.
        Assert.Equal(nextSentence ? 39 + 5 + 2 : 37 + 5, GradCheck.CheckModel(model, batch, h: 5e-3, skipPadRow: false));
    }

    [Fact]
    public void TheLossIsTheMeanCrossEntropyOverMaskedTokensPlusNextSentence()
    {
        var config = GradCheck.TinyConfig() with { Id2Label = null };
        var model = BertForPreTraining.CreateRandom(config, 7);
        GradCheck.Randomize(model.Parameters, 8);
        var input = GradCheck.TinyInput();
        var ignore = BertPreTrainedModel.IgnoreIndex;
        int[] labels = [ignore, 9, ignore, 11, ignore, ignore, 4, ignore, ignore, ignore, 1, 0];
        double loss = model.Loss(new TaskBatch { Input = input, Labels = labels }, training: false);
        var full = model.Logits(input);
        var nsp = model.NextSentenceLogits(input);
        int V = config.VocabSize;
        double Nll(ReadOnlySpan<float> z, int y)
        {
            double max = double.NegativeInfinity, sum = 0;
            foreach (var v in z) max = Math.Max(max, v);
            foreach (var v in z) sum += Math.Exp(v - max);
            return max + Math.Log(sum) - z[y];
        }
        double mlm = (Nll(full.AsSpan(1 * V, V), 9) + Nll(full.AsSpan(3 * V, V), 11) + Nll(full.AsSpan(6 * V, V), 4)) / 3;
        double next = (Nll(nsp.AsSpan(0, 2), 1) + Nll(nsp.AsSpan(2, 2), 0)) / 2;
        Assert.Equal(mlm + next, loss, 4);
    }
}
