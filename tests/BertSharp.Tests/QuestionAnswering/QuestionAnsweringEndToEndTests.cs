using System.Text.Json;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.QuestionAnswering;
using BertSharp.Server;
using BertSharp.Text;
using BertSharp.Training;
using BertSharp.Tests.Server;

namespace BertSharp.Tests.QuestionAnswering;

/// <summary>
/// A small BERT over the real vocabulary trained here (seconds) until it answers its four questions, then
/// saved, reloaded and asked through every door: the pipeline on both runtimes, <c>bertsharp predict</c>,
/// <c>bertsharp eval</c> and <c>POST /v1/qa</c>.
/// </summary>
public sealed class TrainedQaModel : IDisposable
{
    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("bertsharp-qa-").FullName;

    public static readonly (string Question, string Context, string Answer)[] Facts =
    [
        ("Who wrote the paper?", "The paper was written by Jacob Devlin at Google in 2018, and it changed search.", "Jacob Devlin"),
        ("Where is the café?", "Le café «Müller» est à Zürich, près du lac; il ouvre à huit heures.", "Zürich"),
        ("When did the river flood?", "The river flooded in 1953, and the town built a wall the next spring.", "1953"),
        ("What colour is the door?", "Behind the garden there is a house whose door is bright green, like grass.", "bright green"),
    ];

    public TrainedQaModel()
    {
        var lines = Facts.Select((f, i) => JsonSerializer.Serialize(new
        {
            id = $"q{i}",
            question = f.Question,
            context = f.Context,
            answers = new[] { new { text = f.Answer, answer_start = f.Context.IndexOf(f.Answer, StringComparison.Ordinal) } },
        }));
        Data = Path.Combine(_root, "facts.jsonl");
        File.WriteAllLines(Data, Enumerable.Repeat(lines, 6).SelectMany((l, r) => l.Select(s => s.Replace("\"id\":\"q", $"\"id\":\"r{r}q", StringComparison.Ordinal))));
        var config = new BertConfig
        {
            VocabSize = 30522,
            HiddenSize = 32,
            NumHiddenLayers = 2,
            NumAttentionHeads = 2,
            IntermediateSize = 64,
            MaxPositionEmbeddings = 64,
            HiddenDropoutProb = 0,
            AttentionProbsDropoutProb = 0,
        };
        var args = new TrainingArguments { NumTrainEpochs = 25, TrainBatchSize = 8, LearningRate = 3e-3f, MaxLength = 64, LoggingSteps = 1000, EvalStrategy = IntervalStrategy.No };
        var model = BertForQuestionAnswering.CreateRandom(config, seed: 3);
        var trainer = new Trainer(model, new QuestionAnsweringTask(new QaOptions { MaxLength = 64, DocStride = 16, MaxQuestionLength = 16 }),
            BertTokenizer.FromBuiltIn(), args, () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true);
        Directory = Path.Combine(_root, "model");
        trainer.Train(SquadDataset.Load(Data), eval: null, Directory);
        OnnxExporter.Export(PretrainedModel.Load(Directory), Path.Combine(Directory, OnnxRuntimeModel.FileName));
    }

    public string Directory { get; }

    public string Data { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }
}

public class QuestionAnsweringEndToEndTests(TrainedQaModel model) : IClassFixture<TrainedQaModel>
{
    [Fact]
    public void ThePipelineAnswersWithTheRightSpanOnBothRuntimes()
    {
        using var managed = QuestionAnsweringPipeline.Load(model.Directory);
        using var onnx = QuestionAnsweringPipeline.Load(model.Directory, InferenceRuntime.Onnx, threads: 2);
        foreach (var (q, c, a) in TrainedQaModel.Facts)
        {
            var answer = managed.Answer(q, c);
            Assert.Equal(a, answer.Answer);
            Assert.Equal(a, c[answer.Start..answer.End]);
            var viaOnnx = onnx.Answer(q, c);
            Assert.Equal((answer.Start, answer.End), (viaOnnx.Start, viaOnnx.End));
            Assert.Equal(answer.Score, viaOnnx.Score, 3);
        }
    }

    [Fact]
    public void PredictAnswersFromATextOrAFileAndEvalScoresAndWritesPredictions()
    {
        var (q, c, a) = TrainedQaModel.Facts[1];
        var r = CliRunner.Run("predict", "--model", model.Directory, "--question", q, "--context", c, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var row = JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal(a, row.GetProperty("answer").GetString());
        Assert.Equal(c.IndexOf(a, StringComparison.Ordinal), row.GetProperty("start").GetInt32());

        var contextFile = Path.Combine(model.Directory, "..", "context.txt");
        File.WriteAllText(contextFile, TrainedQaModel.Facts[0].Context);
        r = CliRunner.Run("predict", "--model", model.Directory, "--question", TrainedQaModel.Facts[0].Question, "--context", contextFile);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith("Jacob Devlin\t", r.Stdout, StringComparison.Ordinal);

        var predictions = Path.Combine(model.Directory, "..", "predictions.json");
        r = CliRunner.Run("eval", "--model", model.Directory, "--data", model.Data, "--json", "--predictions", predictions);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(100.0, JsonDocument.Parse(r.Stdout).RootElement.GetProperty("exact_match").GetDouble());
        Assert.Equal("Zürich", JsonDocument.Parse(File.ReadAllText(predictions)).RootElement.GetProperty("r0q1").GetString());

        // Over the data it reads: it replaced the SQuAD file with the answers. Refused before any work, the data intact.
        string data = File.ReadAllText(model.Data);
        r = CliRunner.Run("eval", "--model", model.Directory, "--data", model.Data, "--predictions", model.Data);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"--predictions {model.Data}: is ", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(data, File.ReadAllText(model.Data));
        // Over the report: one output replaced the other.
        r = CliRunner.Run("eval", "--model", model.Directory, "--data", model.Data, "-o", predictions, "--predictions", predictions);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is also --output", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void PredictNamesTheLineAndFieldOfABadInputFile()
    {
        var bad = Path.Combine(model.Directory, "..", "bad.jsonl");
        File.WriteAllLines(bad, ["{\"question\": \"Who?\", \"context\": \"Ada.\"}", "{\"question\": \"Who?\"}"]);
        var r = CliRunner.Run("predict", "--model", model.Directory, "--input", bad);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("bad.jsonl:2", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("\"context\"", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerAnswersOnV1QaAndRejectsBadBodiesWithJson()
    {
        using var pipeline = QuestionAnsweringPipeline.Load(model.Directory);
        var app = BertServer.Build(pipeline, new ServerOptions { Urls = "http://127.0.0.1:0", ModelName = "qa" });
        await app.StartAsync();
        await using var server = new RunningServer(app);
        var (q, c, a) = TrainedQaModel.Facts[3];
        var r = await server.PostJsonAsync("/v1/qa", JsonSerializer.Serialize(new { question = q, context = c, top_k = 2 }));
        var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.True(r.IsSuccessStatusCode, body.ToString());
        var best = body.GetProperty("answers")[0];
        Assert.Equal(a, best.GetProperty("answer").GetString());
        Assert.Equal(a, c[best.GetProperty("start").GetInt32()..best.GetProperty("end").GetInt32()]);
        Assert.Equal(2, body.GetProperty("answers").GetArrayLength());

        r = await server.PostJsonAsync("/v1/qa", "{\"question\": \"Who?\"}");
        Assert.Equal(422, (int)r.StatusCode);
        Assert.Contains("\"context\"", JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString());
    }
}
