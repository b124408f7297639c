using System.Globalization;
using BertSharp.Data;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

/// <summary>
/// Trained → saved → loaded (managed and ONNX Runtime) → scored gives what the end-of-training evaluation
/// measured, for every kind of sequence-classification head — including a head on the [CLS] state of an encoder
/// that has no pooler, which used to reload with a random one.
/// </summary>
public sealed class TaskRoundTripTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-roundtrip-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly BertConfig Encoder = new()
    {
        VocabSize = 30522,
        HiddenSize = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 64,
    };

    // A random encoder over the real vocabulary saved as an HF directory, with or without a pooler.
    private string BaseModel(bool pooler)
    {
        var dir = Path.Combine(_dir, pooler ? "base-pooler" : "base-no-pooler");
        if (Directory.Exists(dir)) return dir;
        var encoder = BertModel.CreateRandom(Encoder, seed: 3, addPoolingLayer: pooler);
        new PretrainedModel
        {
            Config = Encoder,
            Weights = encoder.ToStateDict(),
            Source = "tiny",
            OpenVocab = () => BuiltInModels.OpenVocab("minilm-l6"),
            ModelMaxLength = 32,
        }.Save(dir);
        return dir;
    }

    // Sentence-polarity texts with a label of each kind: the polarity, a set of the words it contains among
    // "the", "a", "film", and its length in words.
    private static TextDataset Data(ProblemType type, int skip, int count)
    {
        var rows = TextDataset.Load(TestData.Path("sentence-polarity", "train.csv")).Skip(skip).Take(count).Select(e =>
        {
            var words = e.Text.Split(' ');
            string label = type switch
            {
                ProblemType.SingleLabelClassification => e.Label,
                ProblemType.MultiLabelClassification => string.Join('|', new[] { "the", "a", "film" }.Where(words.Contains)),
                _ => (words.Length / 10.0).ToString(CultureInfo.InvariantCulture),
            };
            return new LabeledExample(e.Text, null, label);
        });
        return new TextDataset(rows);
    }

    [Theory]
    [InlineData(ProblemType.SingleLabelClassification, ClassifierHeadInput.PoolerOutput, true)]
    [InlineData(ProblemType.SingleLabelClassification, ClassifierHeadInput.ClsHiddenState, false)]
    [InlineData(ProblemType.MultiLabelClassification, ClassifierHeadInput.ClsHiddenState, false)]
    [InlineData(ProblemType.Regression, ClassifierHeadInput.PoolerOutput, false)]
    public void SavedModelScoresWhatTheEndOfTrainingEvaluationMeasured(ProblemType type, ClassifierHeadInput head, bool pooler)
    {
        var train = Data(type, 0, 48);
        var dev = Data(type, 1000, 24);
        var labels = type switch
        {
            ProblemType.SingleLabelClassification => LabelMap.FromTrainingData(train),
            ProblemType.MultiLabelClassification => MultiLabels.LabelMapOf(train),
            _ => LabelMap.FromLabels(["words"]),
        };
        var args = new TrainingArguments { NumTrainEpochs = 1, LearningRate = 1e-3f, MaxLength = 32, LoggingSteps = 1000 };
        var output = Path.Combine(_dir, $"{type}-{head}");
        var result = Trainer.Create(BaseModel(pooler), labels, args, head, type).Train(train, dev, output);
        var measured = result.EvalReport!.Metrics;

        OnnxExporter.Export(PretrainedModel.Load(output), Path.Combine(output, OnnxRuntimeModel.FileName));
        foreach (var runtime in new[] { InferenceRuntime.Managed, InferenceRuntime.Onnx })
        {
            using var pipeline = Pipeline.Load(output, runtime, threads: 1);
            var classifier = Assert.IsType<TextClassifier>(pipeline);
            Assert.Equal(type, classifier.ProblemType);
            var task = TaskAdapters.For(pipeline);
            var (report, _) = task.Evaluate(pipeline.Engine, task.Encode(dev, pipeline.Tokenizer, pipeline.MaxLength), 8, pipeline.Tokenizer.PadId);
            Assert.Equal(measured.Keys.Order(), report.Metrics.Keys.Order());
            // The managed model is the trained one bit for bit; ONNX Runtime sums in another order.
            double tolerance = runtime == InferenceRuntime.Managed ? 0 : 1e-4;
            foreach (var (name, value) in measured)
                Assert.True(Math.Abs(value - report.Metrics[name]) <= tolerance, $"{runtime} {name}: {report.Metrics[name]} vs {value} at the end of training");
        }
        // A head on the [CLS] state over an encoder without a pooler is saved and reloaded without one.
        var saved = PretrainedModel.Load(output);
        Assert.Equal(pooler || head == ClassifierHeadInput.PoolerOutput, saved.Weights.ContainsKey("bert.pooler.dense.weight"));
    }
}
