using System.Text.Json.Nodes;
using BertSharp.Model;

namespace BertSharp.Tests.Model;

/// <summary>Hugging Face's multi-label and regression problem types of the sequence classifier.</summary>
public class ProblemTypeTests
{
    private static BertForSequenceClassification Tiny(ProblemType type, int labels, float dropout, ClassifierHeadInput head)
    {
        var config = GradCheck.TinyConfig(dropout, labels: labels) with { ProblemType = type };
        var model = BertForSequenceClassification.CreateRandom(config, new SequenceClassificationOptions { Seed = 5, HeadInput = head });
        GradCheck.Randomize(model.Parameters, 6);
        return model;
    }

    [Theory]
    [InlineData(ProblemType.MultiLabelClassification, 3, 0f, ClassifierHeadInput.PoolerOutput)]
    [InlineData(ProblemType.MultiLabelClassification, 3, 0.1f, ClassifierHeadInput.ClsHiddenState)]
    [InlineData(ProblemType.Regression, 1, 0f, ClassifierHeadInput.PoolerOutput)]
    [InlineData(ProblemType.Regression, 1, 0.1f, ClassifierHeadInput.ClsHiddenState)]
    public void WholeModelGradientMatchesFiniteDifferences(ProblemType type, int labels, float dropout, ClassifierHeadInput head)
    {
        var model = Tiny(type, labels, dropout, head);
        var batch = new TaskBatch
        {
            Input = GradCheck.TinyInput(),
            Targets = type == ProblemType.Regression ? [2.5f, -1f] : [1, 0, 1, 0, 0, 1],
        };
        Assert.Equal(head == ClassifierHeadInput.PoolerOutput ? 41 : 39, GradCheck.CheckModel(model, batch));
    }

    [Fact]
    public void LossesMatchTheirDefinitions()
    {
        // BCE with logits: max(z,0) − z·y + log(1 + e^−|z|); at z = 0 it is log 2 whatever the target.
        Assert.Equal(Math.Log(2), BceWithLogits.Compute([0f, 0f], [1f, 0f], default, 1f), 6);
        Assert.Equal((Math.Log(1 + Math.Exp(-2)) + 3 + Math.Log(1 + Math.Exp(-3))) / 2, BceWithLogits.Compute([2f, 3f], [1f, 0f], default, 1f), 6);
        // scikit-learn's mean_squared_error example: 0.375.
        Assert.Equal(0.375, MeanSquaredError.Compute([2.5f, 0f, 2f, 8f], [3f, -0.5f, 2f, 7f], default, 1f), 6);
        Assert.Contains("outside [0, 1]", Assert.Throws<ArgumentException>(() => BceWithLogits.Compute([0f], [2f], default, 1f)).Message);
        Assert.Contains("not a finite number", Assert.Throws<ArgumentException>(() => MeanSquaredError.Compute([0f], [float.NaN], default, 1f)).Message);
    }

    [Fact]
    public void CrossEntropySkipsTheIgnoreIndex()
    {
        float[] logits = [1f, 2f, 0.5f, -1f, 3f, 0f];
        var d = new float[6];
        float both = CrossEntropy.Compute(logits.AsSpan(0, 2), 1, 2, [1], [], default, 1f);
        float withIgnored = CrossEntropy.Compute(logits.AsSpan(0, 4), 2, 2, [1, BertPreTrainedModel.IgnoreIndex], [], d.AsSpan(0, 4), 1f);
        Assert.Equal(both, withIgnored, 6);
        Assert.Equal(0f, d[2]);
        Assert.Equal(0f, d[3]);
        Assert.Equal(0f, CrossEntropy.Compute(logits.AsSpan(0, 2), 1, 2, [BertPreTrainedModel.IgnoreIndex], [], d.AsSpan(0, 2), 1f));
    }

    [Fact]
    public void ConfigRecordsTheProblemTypeAndHeadInputUnderHuggingFacesNames()
    {
        var model = Tiny(ProblemType.MultiLabelClassification, 3, 0f, ClassifierHeadInput.ClsHiddenState);
        var json = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(model.Config))!;
        Assert.Equal("multi_label_classification", (string?)json["problem_type"]);
        Assert.Equal("cls_hidden_state", (string?)json["classifier_input"]);
        Assert.Equal("BertForSequenceClassification", (string?)json["architectures"]![0]);

        // Rebuilt from its config and weights alone, it reads the same input and gives the same logits.
        var reloaded = new BertForSequenceClassification(model.Config, model.ToStateDict());
        Assert.Equal(ClassifierHeadInput.ClsHiddenState, reloaded.HeadInput);
        Assert.Equal(ProblemType.MultiLabelClassification, reloaded.ProblemType);
        Assert.False(reloaded.Bert.HasPooler);
        Assert.Equal(model.Logits(GradCheck.TinyInput()), reloaded.Logits(GradCheck.TinyInput()));
    }

    [Fact]
    public void ATrainedPoolerHeadWithoutItsPoolerIsRefused()
    {
        var model = Tiny(ProblemType.SingleLabelClassification, 2, 0f, ClassifierHeadInput.PoolerOutput);
        var weights = model.ToStateDict();
        weights.Remove("bert.pooler.dense.weight");
        weights.Remove("bert.pooler.dense.bias");
        var e = Assert.Throws<InvalidDataException>(() => new BertForSequenceClassification(model.Config with { ClassifierInput = null }, weights));
        Assert.Contains("bert.pooler.dense.weight", e.Message);
        Assert.Contains("cls_hidden_state", e.Message);
    }

    [Fact]
    public void RegressionHasOneOutputAndSingleLabelNeedsTwo()
    {
        var config = GradCheck.TinyConfig(labels: 1) with { ProblemType = null };
        Assert.Equal(ProblemType.Regression, BertForSequenceClassification.CreateRandom(config).ProblemType);
        Assert.Contains("at least 2", Assert.Throws<ArgumentException>(() =>
            BertForSequenceClassification.CreateRandom(config with { ProblemType = ProblemType.SingleLabelClassification })).Message);
    }

    [Fact]
    public void ANewRegressionHeadStartsAtTheTargetsMeanAndATrainedOneIsLeftAlone()
    {
        var config = GradCheck.TinyConfig(labels: 1) with { ProblemType = ProblemType.Regression };
        var fresh = BertForSequenceClassification.CreateRandom(config);
        var task = new BertSharp.Training.SequenceClassificationTask(ProblemType.Regression, BertSharp.Data.LabelMap.FromLabels(["rating"]));
        BertSharp.Training.EncodedExample Row(float y) => new([2, 7, 3], [0, 0, 0], [], [y]);
        task.Prepare(fresh, [Row(2f), Row(9f), Row(7f)], new BertSharp.Training.TrainingArguments());
        Assert.Equal(6f, fresh.ToStateDict()["classifier.bias"].Data[0], 5);

        var trained = new BertForSequenceClassification(config, fresh.ToStateDict());
        task.Prepare(trained, [Row(1f)], new BertSharp.Training.TrainingArguments());
        Assert.Equal(6f, trained.ToStateDict()["classifier.bias"].Data[0], 5);
    }
}
