using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>Central finite differences against analytic gradients, and the small fixtures the checks share.</summary>
internal static class GradCheck
{
    /// <summary>
    /// For every entry i of <paramref name="values"/>: (loss(v+h) − loss(v−h)) / (actual step), compared
    /// with analytic[i] within atol + rtol·max(|numeric|, |analytic|). Returns the worst error seen.
    /// </summary>
    public static double Check(string name, float[] values, ReadOnlySpan<float> analytic, Func<double> loss,
        double h = 1e-2, double atol = 2e-4, double rtol = 2e-3, Func<int, bool>? skip = null)
    {
        double worst = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (skip?.Invoke(i) == true) continue;
            float saved = values[i];
            float up = (float)(saved + h), down = (float)(saved - h);
            values[i] = up;
            double lp = loss();
            values[i] = down;
            double lm = loss();
            values[i] = saved;
            double numeric = (lp - lm) / ((double)up - down);
            double a = analytic[i];
            double err = Math.Abs(numeric - a);
            worst = Math.Max(worst, err);
            Assert.True(err <= atol + rtol * Math.Max(Math.Abs(numeric), Math.Abs(a)),
                $"{name}[{i}]: analytic {a:G6} vs finite difference {numeric:G6}");
        }
        return worst;
    }

    /// <summary>
    /// One training step of <paramref name="model"/> on <paramref name="batch"/>, then <see cref="Check"/> of every
    /// parameter's gradient against finite differences of the loss, each difference replaying the step's dropout masks.
    /// The padding row of the word embeddings (id 0) is skipped when <paramref name="skipPadRow"/>: it takes no gradient,
    /// as nn.Embedding(padding_idx) in HF. Returns how many tensors were checked.
    /// </summary>
    public static int CheckModel(BertPreTrainedModel model, TaskBatch batch, double h = 1e-2, bool skipPadRow = true)
    {
        long position = model.DropoutStream.Position;
        model.ZeroGrad();
        model.TrainStep(batch);
        double Loss()
        {
            model.DropoutStream.Position = position;
            return model.Loss(batch, training: true);
        }
        int width = model.Config.HiddenSize, checkedTensors = 0;
        foreach (var p in model.Parameters)
        {
            Func<int, bool>? skip = skipPadRow && p.Name.EndsWith("embeddings.word_embeddings.weight", StringComparison.Ordinal) ? i => i < width : null;
            Check(p.Name, p.Value.Data, p.Grad, Loss, h, skip: skip);
            checkedTensors++;
        }
        return checkedTensors;
    }

    /// <summary>Σ r·y in double, the scalar whose gradient with respect to y is r.</summary>
    public static double Dot(ReadOnlySpan<float> r, ReadOnlySpan<float> y)
    {
        double s = 0;
        for (int i = 0; i < r.Length; i++) s += (double)r[i] * y[i];
        return s;
    }

    public static float[] Uniform(Random rng, int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    /// <summary>
    /// Replaces HF's init (LayerNorm 1/0, biases 0) with generic values so that every term of every
    /// gradient is exercised; LayerNorm γ stays near 1.
    /// </summary>
    public static void Randomize(IEnumerable<Parameter> parameters, int seed, float scale = 0.5f)
    {
        var rng = new Random(seed);
        foreach (var p in parameters)
        {
            var d = p.Value.Data;
            bool gamma = p.Name.EndsWith("LayerNorm.weight", StringComparison.Ordinal);
            for (int i = 0; i < d.Length; i++)
                d[i] = (gamma ? 1f : 0f) + (float)((rng.NextDouble() * 2 - 1) * scale);
        }
    }

    /// <summary>The task's tiny shape: hidden 8, 2 heads, 2 layers, vocabulary 30.</summary>
    public static BertConfig TinyConfig(float dropout = 0f, int layers = 2, int labels = 2) => new()
    {
        VocabSize = 30,
        HiddenSize = 8,
        NumHiddenLayers = layers,
        NumAttentionHeads = 2,
        IntermediateSize = 16,
        MaxPositionEmbeddings = 12,
        TypeVocabSize = 2,
        HiddenDropoutProb = dropout,
        AttentionProbsDropoutProb = dropout,
        Id2Label = Enumerable.Range(0, labels).ToDictionary(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture), i => "L" + i),
    };

    /// <summary>Two rows of length 5; the second has two padding positions (id 0, mask 0). Types mix 0 and 1.</summary>
    public static BertInput TinyInput() => new(2, 5,
        [2, 7, 7, 11, 3, 2, 19, 3, 0, 0],
        [0, 0, 1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
}
