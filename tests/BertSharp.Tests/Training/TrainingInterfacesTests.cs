using System.Text.Json;
using System.Text.Json.Nodes;
using BertSharp.Training;
using Microsoft.Extensions.Logging;

namespace BertSharp.Tests.Training;

/// <summary>The trainer's .NET surface: options as enums under Hugging Face's JSON names, ILogger, IProgress.</summary>
public sealed class TrainingInterfacesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-interfaces-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EnumOptionsKeepHuggingFacesJsonNamesAndOldFilesStillLoad()
    {
        var json = JsonNode.Parse(JsonSerializer.Serialize(new TrainingArguments { EvalStrategy = IntervalStrategy.Steps, LrSchedulerType = SchedulerType.Constant }))!;
        Assert.Equal("steps", json["eval_strategy"]!.GetValue<string>());
        Assert.Equal("constant", json["lr_scheduler_type"]!.GetValue<string>());
        Assert.Equal("epoch", JsonNode.Parse(JsonSerializer.Serialize(new TrainingArguments()))!["eval_strategy"]!.GetValue<string>());

        // A training_args.json written before the enums (strings), and the names transformers writes.
        foreach (var (strategy, scheduler, expected) in new[] { ("epoch", "linear", (IntervalStrategy.Epoch, SchedulerType.Linear)),
            ("no", "constant", (IntervalStrategy.No, SchedulerType.Constant)), ("steps", "linear", (IntervalStrategy.Steps, SchedulerType.Linear)) })
        {
            var old = JsonSerializer.Deserialize<TrainingArguments>($$"""{"learning_rate": 3e-5, "eval_strategy": "{{strategy}}", "lr_scheduler_type": "{{scheduler}}", "eval_steps": 7}""")!;
            Assert.Equal(expected, (old.EvalStrategy, old.LrSchedulerType));
            Assert.Equal(7, old.EvalSteps);
        }
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TrainingArguments>("""{"eval_strategy": "sometimes"}"""));
    }

    [Fact]
    public void TheTrainerLogsThroughILoggerAndReportsEveryStepThroughIProgress()
    {
        var args = new TrainingArguments { NumTrainEpochs = 1, LearningRate = 1e-3f, MaxLength = 16, LoggingSteps = 2 };
        var trainer = TrainerTests.TinyTrainer(args);
        var logger = new ListLogger();
        var reported = new List<TrainingProgress>();
        trainer.Logger = logger;
        trainer.ProgressReporter = new SyncProgress<TrainingProgress>(reported.Add);
        var logged = new List<TrainingLogEntry>();
        trainer.Logged += logged.Add;
        var output = Path.Combine(_dir, "run");

        var result = trainer.Train(TrainerTests.Polarity("train.csv", 40), TrainerTests.Polarity("dev.csv", 16), output);

        Assert.Equal(Enumerable.Range(1, result.GlobalStep), reported.Select(p => p.Step));
        Assert.All(reported, p => Assert.Equal(result.GlobalStep, p.MaxSteps));
        // One log message per train_log.jsonl line, with its numbers, between the start and the saved model.
        Assert.StartsWith("training on 40 examples: 5 optimizer steps over 1 epochs", logger.Messages[0]);
        var trainLines = logged.Where(e => e.Kind == "train").ToList();
        Assert.Equal(trainLines.Select(e => $"step {e.Step} "), logger.Messages.Where(m => m.StartsWith("step ", StringComparison.Ordinal)).Select(m => m[..(m.IndexOf(' ', 5) + 1)]));
        Assert.Contains(logger.Messages, m => m.StartsWith($"evaluation at step {result.GlobalStep}: eval_loss", StringComparison.Ordinal));
        Assert.Equal($"model saved in {output} after {result.GlobalStep} steps", logger.Messages[^1]);
    }

    private sealed class ListLogger : ILogger<Trainer>
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
