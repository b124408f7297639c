using System.Text.Json;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-trainer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A small BERT over the real vocabulary: the real training code path at a CI-sized cost.
    private static readonly BertConfig Tiny = new()
    {
        VocabSize = 30522,
        HiddenSize = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 64,
        Id2Label = new Dictionary<string, string> { ["0"] = "negative", ["1"] = "positive" },
        Label2Id = new Dictionary<string, int> { ["negative"] = 0, ["positive"] = 1 },
    };

    internal static TextDataset Polarity(string file, int count, int seed = 42) =>
        TextDataset.Load(TestData.Path("sentence-polarity", file)).Shuffle(seed).Select(count);

    internal static Trainer TinyTrainer(TrainingArguments args)
    {
        var model = BertForSequenceClassification.CreateRandom(Tiny, new SequenceClassificationOptions { Seed = args.Seed });
        var tokenizer = BertTokenizer.FromBuiltIn();
        var labels = LabelMap.FromLabels(["negative", "positive"]);
        return new Trainer(model, tokenizer, labels, args, () => BuiltInModels.OpenVocab("minilm-l6"));
    }

    // The same trainer whose evaluation throws, as a task's metrics or a bad evaluation set might.
    private static Trainer TinyTrainerWhoseEvaluationFails(TrainingArguments args)
    {
        var model = BertForSequenceClassification.CreateRandom(Tiny, new SequenceClassificationOptions { Seed = args.Seed });
        var task = new FailingEvaluation(new SequenceClassificationTask(ProblemType.SingleLabelClassification, LabelMap.FromLabels(["negative", "positive"])));
        return new Trainer(model, task, BertTokenizer.FromBuiltIn(), args, () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true);
    }

    private sealed class FailingEvaluation(TaskAdapter task) : TaskAdapter
    {
        public override IReadOnlyList<string> MetricNames => task.MetricNames;
        public override string DefaultMetric => task.DefaultMetric;
        public override IReadOnlyList<EncodedExample> Encode(ITaskDataset data, BertTokenizer tokenizer, int maxLength) => task.Encode(data, tokenizer, maxLength);
        public override void Prepare(BertPreTrainedModel model, IReadOnlyList<EncodedExample> train, TrainingArguments args) => task.Prepare(model, train, args);
        public override TaskBatch Collate(IReadOnlyList<EncodedExample> examples, ReadOnlySpan<int> indices, int padId) => task.Collate(examples, indices, padId);
        public override (IEvaluationReport Report, double Loss) Evaluate(IModelRuntime model, IReadOnlyList<EncodedExample> data, int batchSize, int padId) =>
            throw new ArgumentOutOfRangeException(nameof(data), "label 7 has no output in this model");
    }

    private static List<(string Kind, int Step)> LogLines(string output) =>
        [.. File.ReadLines(Path.Combine(output, "train_log.jsonl")).Select(l => JsonSerializer.Deserialize<TrainingLogEntry>(l)!).Select(e => (e.Kind, e.Step))];

    [Fact]
    public void FineTuningMiniLmLowersTheLossAndBeatsChanceOnHeldOutSentences()
    {
        // The real model and code path on a small slice: 400 sentences, two epochs of 25 steps; a
        // higher learning rate than the recipe's so that a few steps are enough to move.
        var train = Polarity("train.csv", 400);
        var dev = Polarity("dev.csv", 200);
        var args = new TrainingArguments
        {
            NumTrainEpochs = 2,
            TrainBatchSize = 16,
            LearningRate = 1e-4f,
            WarmupRatio = 0.1f,
            MaxLength = 64,
            LoggingSteps = 5,
        };
        var trainer = Trainer.Create("minilm-l6", LabelMap.FromTrainingData(train), args);
        var before = trainer.Evaluate(dev);
        var result = trainer.Train(train, dev, Path.Combine(_dir, "minilm"));

        var losses = result.History.Where(e => e.Kind == "train").Select(e => e.Loss!.Value).ToList();
        Assert.True(losses.Count >= 4);
        Assert.True(losses.TakeLast(3).Average() < losses.Take(2).Average(), $"loss did not fall: {string.Join(", ", losses)}");
        Assert.True(result.EvalReport!.Metrics["accuracy"] > 0.6, $"dev accuracy {result.EvalReport.Metrics["accuracy"]} (before training {before.Report.Metrics["accuracy"]})");
        Assert.True(File.Exists(Path.Combine(_dir, "minilm", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(_dir, "minilm", ITrainingPlots.LossFile)));
        Assert.Equal(losses.Count, File.ReadLines(Path.Combine(_dir, "minilm", "train_log.jsonl")).Count(l => l.Contains("\"train\"")));
    }

    [Fact]
    public void SavedModelPredictsTheSameProbabilitiesAfterLoading()
    {
        var train = Polarity("train.csv", 64);
        var trainer = TinyTrainer(new TrainingArguments { NumTrainEpochs = 1, LearningRate = 1e-3f, MaxLength = 32 });
        var output = Path.Combine(_dir, "saved");
        trainer.Train(train, eval: null, output);

        var texts = Polarity("dev.csv", 10).Select(e => e.Text).ToArray();
        var expected = new float[texts.Length * 2];
        var encoded = trainer.Tokenizer.EncodeBatchToInput(texts, options: new EncodeOptions { MaxLength = 32 });
        var logits = trainer.Model.Logits(encoded);
        for (int i = 0; i < texts.Length; i++)
            System.Numerics.Tensors.TensorPrimitives.SoftMax(logits.AsSpan(i * 2, 2), expected.AsSpan(i * 2, 2));

        var loaded = TextClassifier.Load(output);
        Assert.Equal(["negative", "positive"], loaded.Labels);
        Assert.Equal(32, loaded.MaxLength);
        var actual = loaded.Probabilities(texts);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-6);
    }

    [Fact]
    public void ChunkedPredictionAveragesTheWindowsOfALongText()
    {
        var output = Path.Combine(_dir, "chunk");
        TinyTrainer(new TrainingArguments { NumTrainEpochs = 1, LearningRate = 1e-3f, MaxLength = 32 }).Train(Polarity("train.csv", 32), null, output);
        var classifier = TextClassifier.Load(output);
        var review = File.ReadAllText(Directory.EnumerateFiles(TestData.Path("imdb", "train", "pos")).Order().First());

        var encoding = classifier.Tokenizer.Encode(review, null, new EncodeOptions { MaxLength = 32, ReturnOverflowing = true, Stride = 8 });
        var windows = new[] { encoding }.Concat(encoding.Overflowing).ToList();
        Assert.True(windows.Count > 2, "the review should need several windows");
        var expected = new double[2];
        foreach (var w in windows)
        {
            var logits = classifier.Model.Logits(new BertInput(1, w.Length, w.Ids, w.TypeIds, w.AttentionMask));
            double z = Math.Exp(logits[0]) + Math.Exp(logits[1]);
            expected[0] += Math.Exp(logits[0]) / z / windows.Count;
            expected[1] += Math.Exp(logits[1]) / z / windows.Count;
        }
        var chunked = classifier.Probabilities([review], longText: LongTextStrategy.Chunk);
        Assert.Equal(expected[0], chunked[0], 1e-5);
        Assert.Equal(expected[1], chunked[1], 1e-5);

        // A text that fits in one window gets the same answer either way.
        var shortText = "a gripping , beautifully acted film";
        Assert.Equal(classifier.Probabilities([shortText]), classifier.Probabilities([shortText], longText: LongTextStrategy.Chunk));
    }

    [Fact]
    public void InterruptedRunResumesWithTheSameStepsLearningRateAndWeights()
    {
        var train = Polarity("train.csv", 48);
        var args = new TrainingArguments { NumTrainEpochs = 2, TrainBatchSize = 8, LearningRate = 1e-3f, MaxLength = 32, LoggingSteps = 1, WarmupRatio = 0.25f };

        var straight = TinyTrainer(args);
        var full = straight.Train(train, null, Path.Combine(_dir, "straight"));

        var first = TinyTrainer(args);
        using var cancel = new CancellationTokenSource();
        first.Progress += p => { if (p.Step == 4) cancel.Cancel(); };
        var stopped = first.Train(train, null, Path.Combine(_dir, "resumed"), cancellation: cancel.Token);
        Assert.True(stopped.Interrupted);
        Assert.Equal(4, stopped.GlobalStep);

        var second = TinyTrainer(args);
        foreach (var (_, t) in second.Model.ToStateDict()) t.Data.AsSpan().Fill(0.5f); // the checkpoint must replace these
        var resumed = second.Train(train, null, Path.Combine(_dir, "resumed"), resume: true);
        Assert.False(resumed.Interrupted);
        Assert.Equal(full.GlobalStep, resumed.GlobalStep);

        var straightSteps = full.History.Where(e => e.Kind == "train").ToList();
        var resumedSteps = resumed.History.Where(e => e.Kind == "train").ToList();
        Assert.Equal(straightSteps.Select(e => e.Step), resumedSteps.Select(e => e.Step));
        Assert.Equal(straightSteps.Select(e => e.LearningRate), resumedSteps.Select(e => e.LearningRate));
        for (int i = 0; i < straightSteps.Count; i++) Assert.Equal(straightSteps[i].Loss!.Value, resumedSteps[i].Loss!.Value, 1e-4);

        var a = straight.Model.ToStateDict();
        var b = second.Model.ToStateDict();
        foreach (var (name, t) in a)
        {
            var u = b[name];
            for (int i = 0; i < t.Length; i++) Assert.True(Math.Abs(t.Data[i] - u.Data[i]) <= 1e-5f, $"{name}[{i}]: {t.Data[i]} vs {u.Data[i]}");
        }
    }

    [Fact]
    public void ResumeWithoutACheckpointAndAnOccupiedOutputAreClearErrors()
    {
        var train = Polarity("train.csv", 16);
        var args = new TrainingArguments { NumTrainEpochs = 1, MaxLength = 16 };
        var e = Assert.Throws<InvalidOperationException>(() => TinyTrainer(args).Train(train, null, Path.Combine(_dir, "empty"), resume: true));
        Assert.Contains("no complete checkpoint", e.Message);

        var output = Path.Combine(_dir, "taken");
        TinyTrainer(args).Train(train, null, output);
        var io = Assert.Throws<IOException>(() => TinyTrainer(args).Train(train, null, output));
        Assert.Contains("already holds a model", io.Message);
    }

    [Fact]
    public void EarlyStoppingStopsAfterPatienceEvaluationsWithoutImprovement()
    {
        // lr 0 never changes the model: every evaluation after the first is "no improvement".
        var train = Polarity("train.csv", 16);
        var dev = Polarity("dev.csv", 16);
        var args = new TrainingArguments { NumTrainEpochs = 10, LearningRate = 1e-12f, LrSchedulerType = SchedulerType.Constant, MaxLength = 16, EarlyStoppingPatience = 2 };
        var result = TinyTrainer(args).Train(train, dev, Path.Combine(_dir, "early"));
        Assert.Equal(3, result.History.Count(e => e.Kind == "eval"));
        var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(result.BestCheckpoint!, Checkpoint.StateFile)));
        Assert.Equal(2, state.RootElement.GetProperty("global_step").GetInt32());
    }

    [Fact]
    public void ADivergingRunStopsNamingTheStepAndKeepsItsLastFiniteCheckpoint()
    {
        var output = Path.Combine(_dir, "diverged");
        var trainer = TinyTrainer(new TrainingArguments { NumTrainEpochs = 3, LearningRate = 1e10f, MaxLength = 32, SaveSteps = 1, EvalStrategy = IntervalStrategy.No });
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Train(Polarity("train.csv", 64), null, output));
        Assert.Matches("training diverged at step [0-9]+: the (loss|gradient norm) is", e.Message);
        Assert.DoesNotContain(Directory.EnumerateFiles(output), f => Path.GetFileName(f) == "model.safetensors");
        // Whatever was checkpointed before the numbers broke holds finite weights only.
        foreach (var checkpoint in Directory.EnumerateDirectories(output, Checkpoint.Prefix + "*"))
            foreach (var (name, t) in SafeTensors.Read(Path.Combine(checkpoint, "model.safetensors")))
                Assert.True(t.Data.All(float.IsFinite), $"{checkpoint}: {name} is not finite");
    }

    [Fact]
    public void AnOverwriteThatFailsLeavesTheOldModelWholeAndOneThatFinishesReplacesIt()
    {
        var train = Polarity("train.csv", 32);
        var output = Path.Combine(_dir, "replaced");
        TinyTrainer(new TrainingArguments { NumTrainEpochs = 1, MaxLength = 16 }).Train(train, null, output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        var weights = Path.Combine(output, "model.safetensors");
        var old = File.ReadAllBytes(weights);

        // A replacement that diverges after checkpoints of its own: the old model is untouched.
        var diverging = TinyTrainer(new TrainingArguments { NumTrainEpochs = 3, LearningRate = 1e10f, MaxLength = 16, SaveSteps = 1, OverwriteOutputDir = true });
        Assert.Throws<TrainingDivergedException>(() => diverging.Train(train, null, output));
        Assert.Equal(old, File.ReadAllBytes(weights));

        // One stopped mid-way keeps the old model too, and --resume finishes it: only then is the model replaced.
        var args = new TrainingArguments { NumTrainEpochs = 2, MaxLength = 16, LearningRate = 1e-3f, Seed = 7, LoggingSteps = 1, OverwriteOutputDir = true };
        var first = TinyTrainer(args);
        using var cancel = new CancellationTokenSource();
        first.Progress += p => { if (p.Step == 2) cancel.Cancel(); };
        Assert.True(first.Train(train, null, output, cancellation: cancel.Token).Interrupted);
        Assert.Equal(old, File.ReadAllBytes(weights));

        var finished = TinyTrainer(args).Train(train, null, output, resume: true);
        Assert.False(finished.Interrupted);
        Assert.Equal(8, finished.GlobalStep);
        Assert.NotEqual(old, File.ReadAllBytes(weights));
        Assert.Equal(Path.Combine(output, Checkpoint.Prefix + "8"), Checkpoint.Latest(output));
        Assert.Equal(8, LogLines(output).Count);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir), e => Path.GetFileName(e).StartsWith("replaced.", StringComparison.Ordinal));
    }

    [Fact]
    public void ASwapKilledBetweenItsRenamesIsFinishedByTheNextRun()
    {
        // What a kill leaves between "old model aside" and "new model in place": the next run into the directory
        // completes the swap before anything else (the new model there is whole: it is set aside only once it is).
        var train = Polarity("train.csv", 16);
        var args = new TrainingArguments { NumTrainEpochs = 1, MaxLength = 16 };
        var output = Path.Combine(_dir, "swapped");
        TinyTrainer(args).Train(train, null, output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        TinyTrainer(args with { Seed = 9 }).Train(train, null, output + ".overwrite-new");
        var replacement = File.ReadAllBytes(Path.Combine(output + ".overwrite-new", "model.safetensors"));
        Directory.Move(output, output + ".overwrite-old");

        var e = Assert.Throws<IOException>(() => TinyTrainer(args).Train(train, null, output));
        Assert.Contains("already holds a model", e.Message);
        Assert.Equal(replacement, File.ReadAllBytes(Path.Combine(output, "model.safetensors")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_dir), e => Path.GetFileName(e).StartsWith("swapped.", StringComparison.Ordinal));
    }

    [Fact]
    public void AnEvaluationErrorComesAfterTheTrainedStepsAreSavedAndResumeEvaluatesThere()
    {
        var train = Polarity("train.csv", 32);
        var dev = Polarity("dev.csv", 16);
        var args = new TrainingArguments { NumTrainEpochs = 2, MaxLength = 16, LoggingSteps = 1 };
        var output = Path.Combine(_dir, "evaluation");

        var e = Assert.Throws<EvaluationFailedException>(() => TinyTrainerWhoseEvaluationFails(args).Train(train, dev, output));
        Assert.StartsWith("evaluation at step 4 failed: label 7 has no output in this model", e.Message);
        Assert.Contains(Path.Combine(output, Checkpoint.Prefix + "4"), e.Message);
        Assert.Contains("--resume", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.Equal(Path.Combine(output, Checkpoint.Prefix + "4"), Checkpoint.Latest(output));

        // Resumed with an evaluation that works, the run first evaluates the step that failed, then trains on.
        var resumed = TinyTrainer(args).Train(train, dev, output, resume: true);
        Assert.Equal(8, resumed.GlobalStep);
        Assert.Equal(new[] { 4, 8 }, resumed.History.Where(h => h.Kind == "eval").Select(h => h.Step));
        List<(string, int)> log = [.. Enumerable.Range(1, 4).Select(s => ("train", s)), ("eval", 4), .. Enumerable.Range(5, 4).Select(s => ("train", s)), ("eval", 8)];
        Assert.Equal(log, LogLines(output));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    [Fact]
    public void AResumedRunsLogHoldsEachStepOnceInOrderAsAnUninterruptedRunsDoes()
    {
        var train = Polarity("train.csv", 48);
        var dev = Polarity("dev.csv", 16);
        var args = new TrainingArguments { NumTrainEpochs = 2, MaxLength = 16, LoggingSteps = 1, SaveSteps = 4, LearningRate = 1e-3f };
        var straight = Path.Combine(_dir, "straight");
        TinyTrainer(args).Train(train, dev, straight);

        // Stopped as a kill would stop it, at step 6 of 12: the log has steps 1–5, the newest checkpoint is step 4.
        var output = Path.Combine(_dir, "killed");
        var killed = TinyTrainer(args);
        killed.Progress += p => { if (p.Step == 6) throw new OperationCanceledException("killed"); };
        Assert.Throws<OperationCanceledException>(() => killed.Train(train, dev, output));
        Assert.Equal(Enumerable.Range(1, 5).Select(s => ("train", s)), LogLines(output));
        Assert.Equal(Path.Combine(output, Checkpoint.Prefix + "4"), Checkpoint.Latest(output));

        TinyTrainer(args).Train(train, dev, output, resume: true);
        var expected = LogLines(straight);
        Assert.Equal(14, expected.Count);
        Assert.Equal(expected, LogLines(output));
        var straightLosses = File.ReadLines(Path.Combine(straight, "train_log.jsonl")).Select(l => JsonSerializer.Deserialize<TrainingLogEntry>(l)!.Loss);
        var resumedLosses = File.ReadLines(Path.Combine(output, "train_log.jsonl")).Select(l => JsonSerializer.Deserialize<TrainingLogEntry>(l)!.Loss);
        foreach (var (a, b) in straightLosses.Zip(resumedLosses)) Assert.Equal(a ?? 0, b ?? 0, 1e-4);
    }
}
