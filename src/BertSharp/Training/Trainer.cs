using BertSharp.Tensors;
using System.Diagnostics;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>
/// Fine-tunes a BERT sequence classifier with the spec's recipe (<see cref="TrainingArguments"/>):
/// AdamW, linear decay, gradient clipping, evaluation every epoch, the best checkpoint kept, optional
/// early stopping, class weights and gradient accumulation, resumable after an interruption.
/// </summary>
public sealed class Trainer
{
    private readonly TrainingArguments _args;
    private readonly Func<Stream> _openVocab;
    private readonly bool _doLowerCase;
    private readonly AdamW _optimizer;

    /// <summary>Builds a trainer around a classifier the caller made.</summary>
    public Trainer(BertForSequenceClassification model, BertConfig config, BertTokenizer tokenizer, LabelMap labels,
        TrainingArguments args, Func<Stream> openVocab, bool doLowerCase = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(args);
        args.Validate();
        if (labels.Count != model.NumLabels)
            throw new ArgumentException($"the label map has {labels.Count} labels but the model has {model.NumLabels} outputs");
        if (args.Bf16 && !ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16))
            throw new InvalidOperationException($"bf16 needs the oneDNN provider: {ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16)}");
        model.Provider = args.Bf16 ? ComputeProvider.OneDnnBf16 : ComputeProvider.Managed;
        Model = model;
        Config = config;
        Tokenizer = tokenizer;
        Labels = labels;
        _args = args;
        _openVocab = openVocab;
        _doLowerCase = doLowerCase;
        _optimizer = new AdamW(model.Parameters, args.AdamBeta1, args.AdamBeta2, args.AdamEpsilon, args.WeightDecay);
    }

    /// <summary>
    /// A classifier on top of a pretrained encoder (<c>minilm-l6</c>, <c>arctic-xs</c>, an HF directory or a
    /// hub name), with a new head for <paramref name="labels"/> initialised from the seed.
    /// </summary>
    public static Trainer Create(string baseModel, LabelMap labels, TrainingArguments? args = null,
        ClassifierHeadInput headInput = ClassifierHeadInput.PoolerOutput)
    {
        args ??= new TrainingArguments();
        args.Validate();
        var pretrained = PretrainedModel.Load(baseModel);
        var config = pretrained.Config with
        {
            Architectures = ["BertForSequenceClassification"],
            Id2Label = labels.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.i.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.l),
            Label2Id = labels.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.l, p => p.i),
            ProblemType = "single_label_classification",
            HiddenDropoutProb = args.Dropout ?? pretrained.Config.HiddenDropoutProb,
            AttentionProbsDropoutProb = args.Dropout ?? pretrained.Config.AttentionProbsDropoutProb,
        };
        var model = new BertForSequenceClassification(config, pretrained.Weights,
            new SequenceClassificationOptions { Seed = args.Seed, HeadInput = headInput });
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        return new Trainer(model, config, tokenizer, labels, args, pretrained.OpenVocab, pretrained.DoLowerCase);
    }

    public BertForSequenceClassification Model { get; }
    public BertConfig Config { get; }
    public BertTokenizer Tokenizer { get; }
    public LabelMap Labels { get; }

    /// <summary>Raised after every optimizer step.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>Raised for every line written to <c>train_log.jsonl</c>.</summary>
    public event Action<TrainingLogEntry>? Logged;

    /// <summary>
    /// Trains, evaluating as the arguments say, and leaves in <paramref name="outputDirectory"/> an HF-style
    /// model (the best one when there is evaluation data), <c>training_args.json</c>, <c>train_log.jsonl</c>,
    /// the evaluation report and plots. With <paramref name="resume"/> it continues from the newest
    /// checkpoint there. Cancelling saves a checkpoint at the next optimizer step and returns.
    /// </summary>
    public TrainResult Train(TextDataset train, TextDataset? eval, string outputDirectory, bool resume = false,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        if (train.Count == 0) throw new ArgumentException($"{train.Source ?? "training data"}: no examples to train on");
        PrepareOutputDirectory(outputDirectory, resume, _args.OverwriteOutputDir);

        var trainSet = Encode(train);
        var evalSet = eval is null ? null : Encode(eval);
        var classWeights = ResolveClassWeights(trainSet);

        int batch = _args.TrainBatchSize, accumulation = _args.GradientAccumulationSteps;
        int batchesPerEpoch = (trainSet.Count + batch - 1) / batch;
        int updatesPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation;
        int maxSteps = updatesPerEpoch * _args.NumTrainEpochs;
        var schedule = _args.LrSchedulerType == "constant"
            ? new LearningRateSchedule(_args.LearningRate, int.MaxValue, 0)
            : LearningRateSchedule.Linear(_args.LearningRate, maxSteps, _args.WarmupRatio);

        var state = new TrainerState { MaxSteps = maxSteps };
        string? latest = resume ? Checkpoint.Latest(outputDirectory) : null;
        if (resume && latest is null)
            throw new InvalidOperationException($"{outputDirectory}: --resume was given but there is no complete checkpoint to resume from");
        if (latest is not null)
        {
            state = Checkpoint.Restore(latest, Model, _optimizer);
            if (state.MaxSteps != maxSteps)
                throw new InvalidOperationException($"{latest}: the checkpoint was made for {state.MaxSteps} steps but these data and settings give {maxSteps}; resume with the same data and arguments");
        }

        var logPath = Path.Combine(outputDirectory, "train_log.jsonl");
        if (latest is null) File.Delete(logPath);
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "training_args.json"), JsonSerializer.Serialize(_args, Checkpoint.Json));

        var labels = new int[batch];
        var clock = Stopwatch.StartNew();
        double startSeconds = state.TrainSeconds;
        long startSamples = state.SamplesSeen;
        double lossSum = 0;
        int lossCount = 0;
        bool interrupted = false, stop = false;
        Model.ZeroGrad();

        int firstBatch = state.BatchInEpoch;
        for (int epoch = state.Epoch; epoch < _args.NumTrainEpochs && !stop; epoch++, firstBatch = 0)
        {
            var order = BatchSampler.EpochOrder(trainSet.Count, _args.Seed, epoch, _args.GroupByLength ? trainSet : null);
            for (int b = firstBatch; b < batchesPerEpoch; b++)
            {
                int start = b * batch, count = Math.Min(batch, trainSet.Count - start);
                var input = BatchSampler.Collate(trainSet, order.AsSpan(start, count), Tokenizer.PadId, labels);
                // The last group of an epoch may hold fewer batches; scale by its real size so each
                // update is a mean over the batches it saw, as HF's Trainer does.
                int groupStart = b / accumulation * accumulation;
                int groupSize = Math.Min(accumulation, batchesPerEpoch - groupStart);
                float loss = Model.TrainStep(input, labels.AsSpan(0, count), classWeights, 1f / groupSize);
                lossSum += loss;
                lossCount++;
                state.SamplesSeen += count;
                if (b - groupStart + 1 < groupSize) continue;

                float gradNorm = GradientClipping.ClipByGlobalNorm(Model.Parameters, _args.MaxGradNorm);
                float lr = schedule.At(state.GlobalStep);
                _optimizer.Step(lr);
                Model.ZeroGrad();
                state.GlobalStep++;
                bool endOfEpoch = b + 1 == batchesPerEpoch;
                // The state names the next batch to train on, so a checkpoint resumes right after it.
                state.Epoch = endOfEpoch ? epoch + 1 : epoch;
                state.BatchInEpoch = endOfEpoch ? 0 : b + 1;
                state.OptimizerStepCount = _optimizer.StepCount;
                state.DropoutPosition = Model.DropoutStream.Position;
                state.TrainSeconds = startSeconds + clock.Elapsed.TotalSeconds;

                double epochFraction = epoch + (double)(b + 1) / batchesPerEpoch;
                double rate = (state.SamplesSeen - startSamples) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                double secondsPerStep = clock.Elapsed.TotalSeconds / Math.Max(1, state.SamplesSeen - startSamples) * batch * accumulation;
                Progress?.Invoke(new TrainingProgress(state.GlobalStep, maxSteps, epochFraction, _args.NumTrainEpochs, loss, lr, rate,
                    TimeSpan.FromSeconds(secondsPerStep * (maxSteps - state.GlobalStep))));
                if (state.GlobalStep % _args.LoggingSteps == 0 || state.GlobalStep == maxSteps)
                {
                    Log(state, logPath, new TrainingLogEntry
                    {
                        Kind = "train",
                        Step = state.GlobalStep,
                        Epoch = Math.Round(epochFraction, 4),
                        Loss = lossSum / lossCount,
                        LearningRate = lr,
                        GradNorm = gradNorm,
                        SamplesPerSecond = Math.Round(rate, 2),
                    });
                    lossSum = 0;
                    lossCount = 0;
                }

                bool evaluateNow = evalSet is not null && (_args.EvalStrategy == "epoch" ? endOfEpoch
                    : _args.EvalStrategy == "steps" && (state.GlobalStep % _args.EvalSteps == 0 || state.GlobalStep == maxSteps));
                if (evaluateNow)
                {
                    stop = EvaluateAndCheckpoint(evalSet!, state, outputDirectory, logPath, epochFraction);
                }
                else if (endOfEpoch || cancellation.IsCancellationRequested ||
                    (_args.SaveSteps is int every && state.GlobalStep % every == 0))
                {
                    SaveCheckpoint(outputDirectory, state);
                }
                if (cancellation.IsCancellationRequested) { interrupted = true; stop = true; }
                if (stop) break;
            }
        }

        ClassificationReport? report = null;
        if (!interrupted)
        {
            if (state.BestModelCheckpoint is not null && Directory.Exists(state.BestModelCheckpoint))
                Checkpoint.Restore(state.BestModelCheckpoint, Model, _optimizer);
            HfDirectory.Save(outputDirectory, Config, Model.ToStateDict(), _openVocab, _doLowerCase, _args.MaxLength);
            if (evalSet is not null)
            {
                report = Evaluate(evalSet).Report;
                AtomicFile.WriteAllText(Path.Combine(outputDirectory, "eval_report.json"), report.ToJson());
                AtomicFile.WriteAllText(Path.Combine(outputDirectory, "eval_report.txt"), report.ToText(4));
            }
            TrainingPlots.Write(outputDirectory, state.LogHistory);
        }

        return new TrainResult
        {
            Interrupted = interrupted,
            GlobalStep = state.GlobalStep,
            OutputDirectory = outputDirectory,
            BestCheckpoint = state.BestModelCheckpoint,
            EvalReport = report,
            TrainSeconds = state.TrainSeconds,
            SamplesPerSecond = state.SamplesSeen / Math.Max(1e-9, state.TrainSeconds),
            PeakMemoryBytes = Process.GetCurrentProcess().PeakWorkingSet64,
            History = state.LogHistory,
        };
    }

    /// <summary>Scores the current model on labelled data: the classification report and the mean loss.</summary>
    public (ClassificationReport Report, double Loss) Evaluate(TextDataset data) => Evaluate(Encode(data));

    private (ClassificationReport Report, double Loss) Evaluate(IReadOnlyList<EncodedExample> data)
    {
        var (predictions, probabilities) = Classify(data);
        var truth = data.Select(e => e.Label).ToArray();
        double loss = 0;
        int k = Model.NumLabels;
        for (int i = 0; i < truth.Length; i++) loss -= Math.Log(Math.Max(probabilities[i * k + truth[i]], 1e-12f));
        double[] positive = k == 2 ? Enumerable.Range(0, truth.Length).Select(i => (double)probabilities[i * k + 1]).ToArray() : [];
        var report = ClassificationReport.Create(truth, predictions, Labels.Id2Label, positive);
        return (report, loss / truth.Length);
    }

    /// <summary>Predicted label ids and probabilities [n × labels], batched by length so little is padded.</summary>
    private (int[] Predictions, float[] Probabilities) Classify(IReadOnlyList<EncodedExample> data)
    {
        int n = data.Count, k = Model.NumLabels, batch = _args.EvalBatchSize;
        var byLength = Enumerable.Range(0, n).OrderBy(i => data[i].InputIds.Length).ToArray();
        var probabilities = new float[n * k];
        var predictions = new int[n];
        var labels = new int[batch];
        for (int start = 0; start < n; start += batch)
        {
            int count = Math.Min(batch, n - start);
            var input = BatchSampler.Collate(data, byLength.AsSpan(start, count), Tokenizer.PadId, labels);
            var logits = Model.Logits(input);
            for (int r = 0; r < count; r++)
            {
                var row = logits.AsSpan(r * k, k);
                System.Numerics.Tensors.TensorPrimitives.SoftMax(row, probabilities.AsSpan(byLength[start + r] * k, k));
                predictions[byLength[start + r]] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
            }
        }
        return (predictions, probabilities);
    }

    private bool EvaluateAndCheckpoint(IReadOnlyList<EncodedExample> evalSet, TrainerState state, string outputDirectory, string logPath, double epoch)
    {
        var (report, loss) = Evaluate(evalSet);
        var metrics = new Dictionary<string, double>
        {
            ["eval_loss"] = loss,
            ["eval_accuracy"] = report.Accuracy,
            ["eval_f1"] = report.MacroAverage.F1,
            ["eval_precision"] = report.MacroAverage.Precision,
            ["eval_recall"] = report.MacroAverage.Recall,
            ["eval_f1_weighted"] = report.WeightedAverage.F1,
        };
        if (report.RocAuc is double auc) metrics["eval_roc_auc"] = auc;
        Log(state, logPath, new TrainingLogEntry { Kind = "eval", Step = state.GlobalStep, Epoch = Math.Round(epoch, 4), Metrics = metrics });

        string key = "eval_" + _args.MetricForBestModel.Replace("eval_", "", StringComparison.Ordinal);
        if (!metrics.TryGetValue(key, out double value))
            throw new ArgumentException($"metric_for_best_model '{_args.MetricForBestModel}' is not one of: {string.Join(", ", metrics.Keys.Select(m => m[5..]))}");
        bool greaterIsBetter = key != "eval_loss";
        bool improved = state.BestMetric is not double best || (greaterIsBetter ? value > best : value < best);
        var path = Path.Combine(outputDirectory, Checkpoint.Prefix + state.GlobalStep);
        if (improved)
        {
            state.BestMetric = value;
            state.BestModelCheckpoint = path;
            state.EvaluationsWithoutImprovement = 0;
        }
        else
        {
            state.EvaluationsWithoutImprovement++;
        }
        SaveCheckpoint(outputDirectory, state);
        return _args.EarlyStoppingPatience is int patience && state.EvaluationsWithoutImprovement >= patience;
    }

    private void SaveCheckpoint(string outputDirectory, TrainerState state)
    {
        var saved = Checkpoint.Save(outputDirectory, Config, Model, _optimizer, state, _args, _openVocab, _doLowerCase);
        Checkpoint.Prune(outputDirectory, saved, state.BestModelCheckpoint);
    }

    private void Log(TrainerState state, string logPath, TrainingLogEntry entry)
    {
        state.LogHistory.Add(entry);
        File.AppendAllText(logPath, JsonSerializer.Serialize(entry) + "\n");
        Logged?.Invoke(entry);
    }

    private List<EncodedExample> Encode(TextDataset data)
    {
        var options = new EncodeOptions { MaxLength = _args.MaxLength };
        var texts = new string[data.Count];
        var pairs = data.TextPairColumn is null ? null : new string?[data.Count];
        var labelIds = new int[data.Count];
        for (int i = 0; i < data.Count; i++)
        {
            var e = data[i];
            texts[i] = e.Text;
            if (pairs is not null) pairs[i] = e.TextPair;
            if (!Labels.TryGetId(e.Label, out labelIds[i]))
                throw new InvalidDataException($"{e.Location}: label '{e.Label}' is not one the model knows ({string.Join(", ", Labels.Id2Label)})");
        }
        var encodings = Tokenizer.EncodeBatch(texts, pairs, options, PaddingStrategy.DoNotPad);
        var result = new List<EncodedExample>(data.Count);
        for (int i = 0; i < encodings.Length; i++) result.Add(new EncodedExample(encodings[i].Ids, encodings[i].TypeIds, labelIds[i]));
        return result;
    }

    private float[] ResolveClassWeights(IReadOnlyList<EncodedExample> train)
    {
        if (_args.ClassWeights is null) return [];
        var ids = train.Select(e => e.Label).ToArray();
        return _args.ClassWeights.Equals("balanced", StringComparison.OrdinalIgnoreCase)
            ? ClassWeights.Balanced(ids, Labels)
            : ClassWeights.Parse(_args.ClassWeights, Labels, ids);
    }

    private static void PrepareOutputDirectory(string outputDirectory, bool resume, bool overwrite)
    {
        bool occupied = Directory.Exists(outputDirectory) &&
            (File.Exists(Path.Combine(outputDirectory, HfDirectory.ConfigFile)) || Checkpoint.Latest(outputDirectory) is not null);
        if (!resume && occupied && !overwrite)
        {
            throw new IOException($"{outputDirectory} already holds a model or checkpoints; choose another --output, pass --overwrite-output-dir, or --resume to continue that run");
        }
        if (!resume && occupied)
        {
            // Only what a training run writes goes: a directory that is not ours keeps its other files.
            foreach (var d in Directory.EnumerateDirectories(outputDirectory, Checkpoint.Prefix + "*")) Directory.Delete(d, recursive: true);
            foreach (var f in new[] { HfDirectory.ConfigFile, HfDirectory.WeightsFile, "train_log.jsonl", "eval_report.json", "eval_report.txt" })
                File.Delete(Path.Combine(outputDirectory, f));
        }
        Directory.CreateDirectory(outputDirectory);
        Checkpoint.RemoveIncomplete(outputDirectory);
    }
}
