using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class OptimizerTests
{
    [Fact]
    public void FirstAdamWStepMatchesHandArithmetic()
    {
        // w = 1, g = 0.5, lr = 0.1, λ = 0.01, t = 1:
        // decay: 1·(1 − 0.1·0.01) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25;
        // w = 0.999 − 0.1·0.5/(√0.25 + 1e-8) = 0.899
        var w = new float[] { 1f };
        var m = new float[1];
        var v = new float[1];
        AdamW.Update(w, [0.5f], m, v, 0.1f, 0.01f, 0.9f, 0.999f, 1e-8f, 1 - 0.9f, 1 - 0.999f);
        Assert.Equal(0.899f, w[0], 1e-6);
        Assert.Equal(0.05f, m[0], 1e-7);
        Assert.Equal(0.00025f, v[0], 1e-8);
    }

    [Fact]
    public void VectorisedUpdateEqualsScalarFormulaOverManySteps()
    {
        // 37 elements: the SIMD body and the scalar tail both run. Reference in double precision.
        const int n = 37;
        var rng = new Random(7);
        var w = new float[n];
        var m = new float[n];
        var v = new float[n];
        var wd = new double[n];
        var md = new double[n];
        var vd = new double[n];
        for (int i = 0; i < n; i++) wd[i] = w[i] = (float)(rng.NextDouble() - 0.5);
        const double lr = 1e-3, lambda = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        for (int t = 1; t <= 20; t++)
        {
            var g = new float[n];
            for (int i = 0; i < n; i++) g[i] = (float)(rng.NextDouble() - 0.5);
            AdamW.Update(w, g, m, v, (float)lr, (float)lambda, (float)b1, (float)b2, (float)eps,
                (float)(1 - Math.Pow(b1, t)), (float)(1 - Math.Pow(b2, t)));
            for (int i = 0; i < n; i++)
            {
                wd[i] *= 1 - lr * lambda;
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
                wd[i] -= lr * (md[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(vd[i] / (1 - Math.Pow(b2, t))) + eps);
            }
        }
        for (int i = 0; i < n; i++) Assert.Equal(wd[i], w[i], 1e-5);
    }

    [Theory]
    [InlineData(0, 0f)]
    [InlineData(1, 0.5f)]
    [InlineData(2, 1f)]
    [InlineData(6, 0.5f)]
    [InlineData(10, 0f)]
    public void LinearScheduleWithWarmupMatchesHuggingFace(int step, float expectedFactor)
    {
        // get_linear_schedule_with_warmup(total=10, warmup=2): step/2 while warming up, then (10 − step)/8.
        var schedule = LearningRateSchedule.Linear(2e-5f, totalSteps: 10, warmupRatio: 0.2f);
        Assert.Equal(2, schedule.WarmupSteps);
        Assert.Equal(2e-5f * expectedFactor, schedule.At(step), 10);
    }

    [Fact]
    public void InvalidSettingsNameTheField()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingArguments { TrainBatchSize = 0 }.Validate());
        Assert.Contains("batch size", e.Message);
        e = Assert.Throws<ArgumentException>(() => new TrainingArguments { MaxLength = 1000 }.Validate());
        Assert.Contains("max_length", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Trainer(BertForSequenceClassification.CreateRandom(IO.TinyModel.Config(labels: 2)), BertTokenizer.FromBuiltIn(),
            LabelMap.FromLabels(["a", "b"]), new TrainingArguments { MetricForBestModel = "bleu" }, () => BuiltInModels.OpenVocab("minilm-l6")));
        Assert.Contains("metric_for_best_model", e.Message);
        Assert.Contains("micro_f1", Assert.Throws<ArgumentException>(() => Trainer.Create("minilm-l6", LabelMap.FromLabels(["a", "b"]),
            new TrainingArguments { MetricForBestModel = "accuracy" }, problemType: ProblemType.MultiLabelClassification)).Message);
    }
}
