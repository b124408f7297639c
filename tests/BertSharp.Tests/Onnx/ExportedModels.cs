using BertSharp.IO;
using BertSharp.Tensors;
using BertSharp.Tests.IO;

namespace BertSharp.Tests.Onnx;

/// <summary>
/// The built-in minilm-l6 exported once per test class: as an encoder, and as a classifier with a
/// random three-label head made here (so the head's truth is computed by the test, not by us).
/// </summary>
public sealed class ExportedModels : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<string, string> _files = [];

    public ExportedModels()
    {
        Model = PretrainedModel.Load("minilm-l6");
        var random = new Random(20261126);
        int h = Model.Config.HiddenSize;
        ClassifierWeight = new FloatTensor([Labels, h], [.. Enumerable.Range(0, Labels * h).Select(_ => (float)(random.NextDouble() - 0.5) * 0.4f)]);
        ClassifierBias = new FloatTensor([Labels], [0.3f, -0.2f, 0.05f]);
        var weights = new StateDict { Source = "minilm-l6 + test head" };
        foreach (var (k, v) in Model.Weights) weights[k] = v;
        weights["classifier.weight"] = ClassifierWeight;
        weights["classifier.bias"] = ClassifierBias;
        ClassifierWeights = weights;
        ClassifierConfig = Model.Config with
        {
            Id2Label = new Dictionary<string, string> { ["0"] = "a", ["1"] = "b", ["2"] = "c" },
            Label2Id = new Dictionary<string, int> { ["a"] = 0, ["b"] = 1, ["c"] = 2 },
            Architectures = ["BertForSequenceClassification"],
        };
    }

    public const int Labels = 3;

    public PretrainedModel Model { get; }
    public FloatTensor ClassifierWeight { get; }
    public FloatTensor ClassifierBias { get; }
    public StateDict ClassifierWeights { get; }
    public global::BertSharp.Model.BertConfig ClassifierConfig { get; }

    public string Directory => _dir.Path;

    public string Encoder(int opset = OnnxExporter.DefaultOpset, OnnxQuantization q = OnnxQuantization.None) =>
        Get($"encoder-{opset}-{q}.onnx", path => OnnxExporter.Export(Model, path, opset, q));

    public string Classifier(OnnxQuantization q = OnnxQuantization.None) =>
        Get($"classifier-{q}.onnx", path => OnnxExporter.Export(ClassifierConfig, ClassifierWeights, path, OnnxExporter.DefaultOpset, q));

    private string Get(string name, Action<string> export)
    {
        lock (_files)
        {
            if (!_files.TryGetValue(name, out var path))
            {
                path = _dir.File(name);
                export(path);
                _files[name] = path;
            }
            return path;
        }
    }

    public void Dispose() => _dir.Dispose();
}
