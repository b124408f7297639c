using System.Net.Http.Headers;
using Encoding = System.Text.Encoding;
using BertSharp.Data;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Server;
using BertSharp.Text;
using BertSharp.Training;
using Microsoft.AspNetCore.Builder;

namespace BertSharp.Tests.Server;

/// <summary>
/// A classifier fine-tuned here, once for the server tests, on an easy real task: TREC questions
/// ("question") against sentence-polarity's movie-review snippets ("review"). The held-out examples
/// come from other lines of the same files, so their labels are the data sets' own. The model is a
/// small BERT over the real vocabulary (seconds to train) and is also exported to ONNX.
/// </summary>
public sealed class ServedModel : IDisposable
{
    /// <summary>The test classes that share one trained model (trained once, classes run one after another).</summary>
    public const string Collection = "served model";

    private static readonly BertConfig Tiny = new()
    {
        VocabSize = 30522,
        HiddenSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
        MaxPositionEmbeddings = 64,
        Id2Label = new Dictionary<string, string> { ["0"] = "question", ["1"] = "review" },
        Label2Id = new Dictionary<string, int> { ["question"] = 0, ["review"] = 1 },
    };

    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("bertsharp-serve-").FullName;

    public ServedModel()
    {
        var questions = Questions();
        var reviews = File.ReadLines(TestData.Path("sentence-polarity", "train.csv")).Skip(1).Select(l => l[..l.LastIndexOf(',')]).ToArray();
        var train = Path.Combine(_root, "train.csv");
        var rows = questions.Take(240).Select(q => (q, "question")).Concat(reviews.Take(240).Select(r => (r, "review")));
        File.WriteAllLines(train, ["text,label", .. rows.Select(r => $"{Csv(r.Item1)},{r.Item2}")]);
        HeldOut = [.. questions.Skip(2000).Take(20).Select(q => (q, "question")).Concat(reviews.Skip(4000).Take(20).Select(r => (r, "review")))];

        var args = new TrainingArguments { NumTrainEpochs = 3, TrainBatchSize = 16, LearningRate = 1e-3f, MaxLength = 48, LoggingSteps = 1000, EvalStrategy = IntervalStrategy.No };
        var model = BertForSequenceClassification.CreateRandom(Tiny, new SequenceClassificationOptions { Seed = 7 });
        var trainer = new Trainer(model, BertTokenizer.FromBuiltIn(), LabelMap.FromLabels(["question", "review"]), args,
            () => BuiltInModels.OpenVocab("minilm-l6"));
        Directory = Path.Combine(_root, "questions");
        trainer.Train(TextDataset.Load(train).Shuffle(1), eval: null, Directory);
        OnnxExporter.Export(PretrainedModel.Load(Directory), Path.Combine(Directory, OnnxRuntimeModel.FileName));
        Managed = TextClassifier.Load(Directory);
        Onnx = TextClassifier.Load(Directory, InferenceRuntime.Onnx, threads: 2);
    }

    /// <summary>The model directory (config.json, vocab.txt, model.safetensors, model.onnx).</summary>
    public string Directory { get; }

    public TextClassifier Managed { get; }
    public TextClassifier Onnx { get; }

    /// <summary>Texts the model never saw, with their data set's label.</summary>
    public IReadOnlyList<(string Text, string Label)> HeldOut { get; }

    public static int Layers => Tiny.NumHiddenLayers;
    public static int Heads => Tiny.NumAttentionHeads;

    /// <summary>Starts the real server on a free loopback port.</summary>
    public async Task<RunningServer> StartAsync(ServerOptions? options = null, TextClassifier? classifier = null, Action<WebApplication>? configure = null)
    {
        options = (options ?? new ServerOptions()) with { Urls = "http://127.0.0.1:0", ModelName = "questions" };
        var app = BertServer.Build(classifier ?? Managed, options);
        configure?.Invoke(app);
        await app.StartAsync();
        return new RunningServer(app);
    }

    private static string[] Questions()
    {
        // The file has one stray non-UTF-8 byte; Latin-1 reads every line.
        return [.. File.ReadLines(TestData.Path("trec", "train_5500.label"), Encoding.Latin1).Select(l => l[(l.IndexOf(' ') + 1)..])];
    }

    private static string Csv(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";

    public void Dispose()
    {
        Managed.Dispose();
        Onnx.Dispose();
        System.IO.Directory.Delete(_root, recursive: true);
    }
}

[CollectionDefinition(ServedModel.Collection)]
public sealed class ServedModelCollection : ICollectionFixture<ServedModel>;

/// <summary>A started server and a client for it; disposing stops the server (draining requests) and frees the port.</summary>
public sealed class RunningServer(WebApplication app) : IAsyncDisposable
{
    public WebApplication App { get; } = app;
    public Uri Address { get; } = new(app.Urls.First());
    public HttpClient Client { get; } = new() { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Waits until /health/ready answers 200 (the warm-up pass has run), failing the test after 30 s.</summary>
    public Task WaitReadyAsync() => Poll.UntilAsync(async () =>
    {
        using var ready = await Client.GetAsync("/health/ready");
        return ready.StatusCode == System.Net.HttpStatusCode.OK;
    }, "ready");

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, string contentType = "application/json")
    {
        var content = new StringContent(json, Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return Client.PostAsync(path, content);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>Polling for a server's state, which changes in the background (warm-up, drain).</summary>
public static class Poll
{
    /// <summary>Checks <paramref name="condition"/> every 20 ms until it holds; fails the test after 30 s naming <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
