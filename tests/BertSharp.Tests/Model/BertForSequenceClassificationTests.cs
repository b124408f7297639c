using BertSharp.Model;

namespace BertSharp.Tests.Model;

public class BertForSequenceClassificationTests
{
    private static BertForSequenceClassification Tiny(float dropout, ClassifierHeadInput head, int seed = 42, int labels = 3)
    {
        var model = BertForSequenceClassification.CreateRandom(GradCheck.TinyConfig(dropout, labels: labels),
            new SequenceClassificationOptions { Seed = seed, HeadInput = head });
        GradCheck.Randomize(model.Parameters, seed + 1);
        return model;
    }

    [Theory]
    [InlineData(ClassifierHeadInput.PoolerOutput, 0f, false, true)]
    [InlineData(ClassifierHeadInput.ClsHiddenState, 0f, true, true)]
    [InlineData(ClassifierHeadInput.PoolerOutput, 0.1f, true, true)] // every dropout mask replayed for each difference
    [InlineData(ClassifierHeadInput.ClsHiddenState, 0.1f, false, true)]
    [InlineData(ClassifierHeadInput.PoolerOutput, 0.1f, false, false)] // the full last layer
    [InlineData(ClassifierHeadInput.ClsHiddenState, 0f, true, false)]
    public void WholeTwoLayerClassifierGradientMatchesFiniteDifferences(ClassifierHeadInput head, float dropout, bool weighted, bool clsOnly)
    {
        var model = Tiny(dropout, head);
        model.ClsOnlyLastLayer = clsOnly;
        var input = GradCheck.TinyInput();
        int[] labels = [2, 0];
        float[] weights = weighted ? [0.5f, 2f, 1.5f] : [];
        long position = model.DropoutStream.Position;
        model.ZeroGrad();
        model.TrainStep(input, labels, weights);
        double Loss()
        {
            model.DropoutStream.Position = position;
            return model.Loss(input, labels, weights, training: true);
        }
        int checkedTensors = 0;
        foreach (var p in model.Parameters)
        {
            if (head == ClassifierHeadInput.ClsHiddenState && p.Name.StartsWith("bert.pooler.", StringComparison.Ordinal)) continue;
            // The pad row (id 0) takes no gradient, as nn.Embedding(padding_idx) in HF.
            Func<int, bool>? skip = p.Name == "bert.embeddings.word_embeddings.weight" ? i => i < 8 : null;
            GradCheck.Check(p.Name, p.Value.Data, p.Grad, Loss, skip: skip);
            checkedTensors++;
        }
        Assert.Equal(head == ClassifierHeadInput.PoolerOutput ? 41 : 39, checkedTensors);
    }

    [Theory]
    [InlineData(ClassifierHeadInput.PoolerOutput)]
    [InlineData(ClassifierHeadInput.ClsHiddenState)]
    public void ClsOnlyLastLayerGivesTheFullModelsLogitsAndGradients(ClassifierHeadInput head)
    {
        var input = GradCheck.TinyInput();
        int[] labels = [1, 2];
        var full = Tiny(0f, head);
        full.ClsOnlyLastLayer = false;
        var cls = Tiny(0f, head);
        full.ZeroGrad();
        cls.ZeroGrad();
        Assert.Equal(full.TrainStep(input, labels, []), cls.TrainStep(input, labels, []), 1e-6f);
        var logitsFull = full.Logits(input);
        var logitsCls = cls.Logits(input);
        for (int i = 0; i < logitsFull.Length; i++) Assert.Equal(logitsFull[i], logitsCls[i], 1e-5f);
        var a = full.Parameters.ToArray();
        var b = cls.Parameters.ToArray();
        for (int k = 0; k < a.Length; k++)
            for (int i = 0; i < a[k].Grad.Length; i++)
                Assert.True(Math.Abs(a[k].Grad[i] - b[k].Grad[i]) <= 1e-5f + 1e-4f * Math.Abs(a[k].Grad[i]),
                    $"{a[k].Name}[{i}]: full {a[k].Grad[i]} vs [CLS]-only {b[k].Grad[i]}");
    }

    [Fact]
    public void GradientsAccumulateAcrossStepsAndScale()
    {
        var model = Tiny(0.1f, ClassifierHeadInput.PoolerOutput);
        var input = GradCheck.TinyInput();
        long position = model.DropoutStream.Position;
        model.ZeroGrad();
        float loss = model.TrainStep(input, [1, 2], []);
        var once = model.Parameters.Select(p => (float[])p.Grad.Clone()).ToArray();
        model.DropoutStream.Position = position;
        Assert.Equal(loss, model.TrainStep(input, [1, 2], [], lossScale: 0.5f));
        var parameters = model.Parameters.ToArray();
        for (int k = 0; k < parameters.Length; k++)
            for (int i = 0; i < once[k].Length; i++)
                Assert.Equal(1.5f * once[k][i], parameters[k].Grad[i], 1e-6f + 1e-5f * Math.Abs(once[k][i]));
        model.ZeroGrad();
        Assert.All(parameters, p => Assert.All(p.Grad, g => Assert.Equal(0f, g)));
    }

    [Fact]
    public void SameSeedGivesTheSameLossSequence()
    {
        static float[] Run(int seed)
        {
            var model = Tiny(0.1f, ClassifierHeadInput.PoolerOutput, seed: 7);
            // same weights, dropout stream from the given seed
            var options = new SequenceClassificationOptions { Seed = seed };
            var twin = new BertForSequenceClassification(GradCheck.TinyConfig(0.1f, labels: 3), model.ToStateDict(), options);
            var input = GradCheck.TinyInput();
            var losses = new float[5];
            for (int step = 0; step < losses.Length; step++)
            {
                twin.ZeroGrad();
                losses[step] = twin.TrainStep(input, [2, 1], []);
                foreach (var p in twin.Parameters)
                    for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] -= 0.05f * p.Grad[i];
            }
            return losses;
        }
        var a = Run(1);
        Assert.Equal(a, Run(1));
        Assert.NotEqual(a, Run(2));
    }

    [Fact]
    public void LoadsHuggingFaceNamesAndInitialisesAMissingHeadFromTheSeed()
    {
        var config = GradCheck.TinyConfig(labels: 3);
        var input = GradCheck.TinyInput();
        var model = Tiny(0f, ClassifierHeadInput.PoolerOutput);
        var saved = model.ToStateDict();
        Assert.Contains("bert.encoder.layer.1.output.LayerNorm.bias", saved.Keys);
        Assert.Contains("bert.pooler.dense.weight", saved.Keys);
        Assert.Equal([3, 8], saved["classifier.weight"].Shape);
        var reloaded = new BertForSequenceClassification(config, saved);
        Assert.Equal(model.Logits(input), reloaded.Logits(input));
        // The encoder alone also loads from the prefixed names, ignoring the head.
        Assert.Equal(model.Bert.Forward(input).LastHiddenState.Data, new BertModel(config, saved).Forward(input).LastHiddenState.Data);

        // A bare encoder without a head: the same seed gives the same new classifier.
        var bare = model.Bert.ToStateDict();
        var h1 = new BertForSequenceClassification(config, bare, new SequenceClassificationOptions { Seed = 5 });
        var h2 = new BertForSequenceClassification(config, bare, new SequenceClassificationOptions { Seed = 5 });
        var h3 = new BertForSequenceClassification(config, bare, new SequenceClassificationOptions { Seed = 6 });
        Assert.Equal(h1.Logits(input), h2.Logits(input));
        Assert.NotEqual(h1.Logits(input), h3.Logits(input));
        Assert.All(h1.ToStateDict()["classifier.bias"].Data, v => Assert.Equal(0f, v));

        // The encoder under bert. must be whole: a missing tensor is named with its prefix.
        saved.Remove("bert.embeddings.LayerNorm.bias");
        var e = Assert.Throws<InvalidDataException>(() => new BertForSequenceClassification(config, saved));
        Assert.Contains("bert.embeddings.LayerNorm.bias", e.Message);
    }

    [Fact]
    public void PredictGivesLogitsProbabilitiesAndAttentions()
    {
        var model = Tiny(0.1f, ClassifierHeadInput.PoolerOutput);
        var input = GradCheck.TinyInput();
        var prediction = model.Predict(input, outputAttentions: true);
        // eval mode: no dropout, repeatable; Logits computes only the [CLS] rows of the last layer, Predict
        // with attentions all of them, to the same numbers.
        var logits = model.Logits(input);
        for (int i = 0; i < logits.Length; i++) Assert.Equal(logits[i], prediction.Logits.Data[i], 1e-5f);
        Assert.Equal([2, 3], prediction.Probabilities.Shape);
        for (int b = 0; b < 2; b++)
            Assert.Equal(1.0, prediction.Probabilities.Data.Skip(b * 3).Take(3).Sum(v => (double)v), 1e-5);
        Assert.Equal(2, prediction.Attentions!.Count);
        Assert.Equal([2, 2, 5, 5], prediction.Attentions[0].Shape);
        Assert.Null(prediction.HiddenStates);
    }

    [Fact]
    public void TrainingOnASeparableToyTaskLowersTheLoss()
    {
        // label 1 when token 5 occurs in the sentence: learnable through attention and the head.
        var model = BertForSequenceClassification.CreateRandom(GradCheck.TinyConfig(0.1f, labels: 2) with { HiddenSize = 16, InitializerRange = 0.2f });
        var rng = new Random(3);
        const int B = 8, T = 6;
        var ids = new int[B * T];
        var labels = new int[B];
        for (int b = 0; b < B; b++)
        {
            for (int t = 0; t < T; t++) ids[b * T + t] = rng.Next(6, 30);
            labels[b] = b % 2;
            if (labels[b] == 1) ids[b * T + rng.Next(1, T)] = 5;
        }
        var input = new BertInput(B, T, ids, new int[B * T], Enumerable.Repeat(1, B * T).ToArray());
        float first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            model.ZeroGrad();
            last = model.TrainStep(input, labels, []);
            if (step == 0) first = last;
            foreach (var p in model.Parameters)
                for (int i = 0; i < p.Value.Length; i++) p.Value.Data[i] -= 0.1f * p.Grad[i];
        }
        Assert.True(last < 0.5f * first, $"loss went from {first} to {last}");
    }

    [Fact]
    public void RejectsLabelsThatDoNotFit()
    {
        var model = Tiny(0f, ClassifierHeadInput.PoolerOutput);
        var input = GradCheck.TinyInput();
        Assert.Contains("label 3", Assert.Throws<ArgumentException>(() => model.TrainStep(input, [0, 3], [])).Message);
        Assert.Contains("1 labels for a batch of 2", Assert.Throws<ArgumentException>(() => model.TrainStep(input, [0], [])).Message);
        Assert.Contains("2 class weights for 3 labels", Assert.Throws<ArgumentException>(() => model.TrainStep(input, [0, 1], [1f, 1f])).Message);
    }
}
