using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.Evaluation;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;
using BertSharp.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BertSharp.Training;

/// <summary>
/// Fine-tunes a BERT task model with the spec's recipe (<see cref="TrainingArguments"/>): AdamW, linear decay,
/// gradient clipping, evaluation every epoch, the best checkpoint kept, optional early stopping and gradient
/// accumulation, resumable after an interruption. The loop knows no task: what the data are, how they batch and
/// how a model is scored come from the task's adapter.
/// </summary>
public sealed partial class Trainer
{
    private readonly TrainingArguments _args;
    private readonly TaskAdapter _task;
    private readonly Func<Stream> _openVocab;
    private readonly bool _doLowerCase;
    private readonly AdamW _optimizer;
    private readonly string _metric;

    /// <summary>Builds a trainer around a sequence classifier the caller made, for the labels in <paramref name="labels"/>.</summary>
    public Trainer(BertForSequenceClassification model, BertTokenizer tokenizer, LabelMap labels, TrainingArguments args,
        Func<Stream> openVocab, bool doLowerCase = true)
        : this(model, new SequenceClassificationTask(model?.ProblemType ?? ProblemType.SingleLabelClassification, labels), tokenizer, args, openVocab, doLowerCase)
    {
        if (model!.ProblemType != ProblemType.Regression && labels.Count != model.NumLabels)
            throw new ArgumentException($"the label map has {labels.Count} labels but the model has {model.NumLabels} outputs");
    }

    internal Trainer(BertPreTrainedModel model, TaskAdapter task, BertTokenizer tokenizer, TrainingArguments args, Func<Stream> openVocab, bool doLowerCase)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(tokenizer);
        args.Validate();
        _metric = (args.MetricForBestModel ?? task.DefaultMetric).Replace("eval_", "", StringComparison.Ordinal);
        if (_metric != "loss" && !task.MetricNames.Contains(_metric))
            throw new ArgumentException($"metric_for_best_model = {_metric}: must be loss or one of {string.Join(", ", task.MetricNames)}");
        if (args.Bf16 && !ComputeProviders.IsAvailable(ComputeProvider.OneDnnBf16))
            throw new InvalidOperationException($"bf16 needs the oneDNN provider: {ComputeProviders.UnavailableReason(ComputeProvider.OneDnnBf16)}");
        model.Provider = args.Bf16 ? ComputeProvider.OneDnnBf16 : ComputeProvider.Managed;
        Model = model;
        Tokenizer = tokenizer;
        _task = task;
        _args = args;
        _openVocab = openVocab;
        _doLowerCase = doLowerCase;
        _optimizer = new AdamW(model.Parameters, args.AdamBeta1, args.AdamBeta2, args.AdamEpsilon, args.WeightDecay);
    }

    /// <summary>
    /// A sequence classifier on top of a pretrained encoder (<c>minilm-l6</c>, <c>arctic-xs</c>, an HF directory or a
    /// hub name), with a new head for <paramref name="labels"/> initialised from the seed.
    /// </summary>
    /// <param name="baseModel">The pretrained encoder.</param>
    /// <param name="labels">The label names (for regression, the one output's name).</param>
    /// <param name="args">The recipe; the spec's defaults when null.</param>
    /// <param name="headInput">What the classifier reads.</param>
    /// <param name="problemType">Single-label (softmax), multi-label (a sigmoid per label) or regression (one value).</param>
    /// <param name="labelSeparator">How a multi-label example joins its label names in one column.</param>
    public static Trainer Create(string baseModel, LabelMap labels, TrainingArguments? args = null,
        ClassifierHeadInput headInput = ClassifierHeadInput.PoolerOutput, ProblemType problemType = ProblemType.SingleLabelClassification,
        string labelSeparator = MultiLabels.DefaultSeparator)
    {
        ArgumentNullException.ThrowIfNull(labels);
        args ??= new TrainingArguments();
        args.Validate();
        if (problemType == ProblemType.Regression && labels.Count != 1)
            throw new ArgumentException($"regression has one output; got {labels.Count} label names");
        var pretrained = PretrainedModel.Load(baseModel);
        var config = pretrained.Config with
        {
            Id2Label = labels.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.i.ToString(CultureInfo.InvariantCulture), p => p.l),
            Label2Id = labels.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.l, p => p.i),
            ProblemType = problemType,
            HiddenDropoutProb = args.Dropout ?? pretrained.Config.HiddenDropoutProb,
            AttentionProbsDropoutProb = args.Dropout ?? pretrained.Config.AttentionProbsDropoutProb,
        };
        var model = new BertForSequenceClassification(config, pretrained.Weights, new SequenceClassificationOptions { Seed = args.Seed, HeadInput = headInput });
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        return new Trainer(model, new SequenceClassificationTask(problemType, labels, labelSeparator), tokenizer, args, pretrained.OpenVocab, pretrained.DoLowerCase);
    }

    /// <summary>The model being trained.</summary>
    public BertPreTrainedModel Model { get; }

    /// <summary>The tokenizer that encodes the data.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>
    /// The job this trainer is one rank of (one process unless set). With several ranks, training is data-parallel: each
    /// micro-batch of <c>batch size × ranks</c> examples, the one a single process would run with that batch size, is
    /// cut into one contiguous slice per rank, gradients are averaged over the ranks before clipping, and rank 0 alone
    /// evaluates, logs and writes checkpoints and the model. Every rank must call <see cref="Train"/> with the same data
    /// and arguments.
    /// </summary>
    public ICommunicator Communicator { get; set; } = new LocalCommunicator();

    /// <summary>Raised after every optimizer step.</summary>
    public event Action<TrainingProgress>? Progress;

    /// <summary>
    /// Told the same snapshot as <see cref="Progress"/> after every optimizer step (on rank 0), for code that takes an
    /// <see cref="IProgress{T}"/>; a <see cref="Progress{T}"/> posts it to the context it was made on.
    /// </summary>
    public IProgress<TrainingProgress>? ProgressReporter { get; set; }

    /// <summary>
    /// Where the run says what it does (start, resume, each logged step's loss and learning rate, each evaluation, the
    /// saved model), as <c>train_log.jsonl</c> records it; silent by default.
    /// </summary>
    public ILogger<Trainer> Logger { get; set; } = NullLogger<Trainer>.Instance;

    /// <summary>Raised for every line written to <c>train_log.jsonl</c>.</summary>
    public event Action<TrainingLogEntry>? Logged;

    /// <summary>
    /// Trains, evaluating as the arguments say, and leaves in <paramref name="outputDirectory"/> an HF-style
    /// model (the best one when there is evaluation data), <c>training_args.json</c>, <c>train_log.jsonl</c>,
    /// the evaluation report and plots. With <paramref name="resume"/> it continues from the newest
    /// checkpoint there. Cancelling saves a checkpoint at the next optimizer step and returns. Replacing a model
    /// (<see cref="TrainingArguments.OverwriteOutputDir"/>) trains beside it and swaps only at the end, so a run that
    /// fails leaves the old model as it was.
    /// </summary>
    /// <exception cref="InvalidDataException">The data cannot be encoded for this task (the message names the example).</exception>
    /// <exception cref="TrainingDivergedException">The loss or the gradients stopped being finite numbers.</exception>
    /// <exception cref="EvaluationFailedException">An evaluation threw; what was trained up to it is saved first.</exception>
    public TrainResult Train(ITaskDataset train, ITaskDataset? eval, string outputDirectory, bool resume = false,
        CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        if (train.Count == 0) throw new ArgumentException($"{train.Source ?? "training data"}: no examples to train on");
        var comm = Communicator;
        bool root = comm.IsRoot, distributed = comm.Size > 1;
        // Only rank 0 touches the output directory (beside the old model when the run replaces one, as OutputStaging
        // decides); the others learn what it found through the broadcasts below.
        var output = root ? OutputStaging.Open(outputDirectory, resume, _args.OverwriteOutputDir) : null;
        string finalDirectory = outputDirectory;
        if (output is not null) outputDirectory = output.TrainingDirectory;

        var trainSet = _task.Encode(train, Tokenizer, _args.MaxLength);
        var evalSet = eval is null ? null : _task.Encode(eval, Tokenizer, _args.MaxLength);
        _task.Prepare(Model, trainSet, _args);

        // One process's batch is the micro-batch; with N ranks it is N per-rank batches, so the data order, the
        // batches and hence the steps are those of one process with batch = per-rank batch × N.
        var parallel = new DataParallel(comm, _args.TrainBatchSize, _args.GradientAccumulationSteps);
        int batch = parallel.MicroBatchSize, accumulation = _args.GradientAccumulationSteps;
        int batchesPerEpoch = parallel.MicroBatchesPerEpoch(trainSet.Count);
        int updatesPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation;
        int maxSteps = updatesPerEpoch * _args.NumTrainEpochs;
        var schedule = _args.LrSchedulerType == SchedulerType.Constant
            ? new LearningRateSchedule(_args.LearningRate, int.MaxValue, 0)
            : LearningRateSchedule.Linear(_args.LearningRate, maxSteps, _args.WarmupRatio);

        var state = new TrainerState { MaxSteps = maxSteps };
        string? latest = root && resume ? Checkpoint.Latest(outputDirectory) : null;
        if (root && resume && latest is null)
            throw new InvalidOperationException($"{outputDirectory}: --resume was given but there is no complete checkpoint to resume from");
        if (latest is not null)
        {
            state = Checkpoint.Restore(latest, Model, _optimizer);
            LogResumed(Logger, latest, state.GlobalStep);
            if (state.MaxSteps != maxSteps)
                throw new InvalidOperationException($"{latest}: the checkpoint was made for {state.MaxSteps} steps but these data and settings give {maxSteps}; resume with the same data and arguments");
            // Found by name: a replacement's checkpoints were made beside the directory they are in now.
            if (state.BestModelCheckpoint is { } best) state.BestModelCheckpoint = Path.Combine(outputDirectory, Path.GetFileName(best));
        }
        GradientAverager? averager = null;
        if (distributed)
        {
            state = ShareFromRoot(parallel, state, resumed: parallel.AgreeWithRoot(latest is not null));
            averager = new GradientAverager(comm, [.. Model.Parameters.Select(p => p.Grad)]);
        }

        var logPath = Path.Combine(outputDirectory, "train_log.jsonl");
        if (root)
        {
            // The log restarts from the checkpoint's history: lines a killed run wrote after its last checkpoint
            // would otherwise appear twice once the resumed run passes those steps again.
            AtomicFile.WriteAllText(logPath, string.Concat(state.LogHistory.Select(e => JsonSerializer.Serialize(e) + "\n")));
            AtomicFile.WriteAllText(Path.Combine(outputDirectory, "training_args.json"), JsonSerializer.Serialize(_args, Checkpoint.Json));
        }

        if (root) LogStarting(Logger, trainSet.Count, maxSteps, _args.NumTrainEpochs, outputDirectory);
        var clock = Stopwatch.StartNew();
        double startSeconds = state.TrainSeconds;
        long startSamples = state.SamplesSeen;
        double lossSum = 0, groupLoss = 0;
        int lossCount = 0;
        TimeSpan reducedAtLog = TimeSpan.Zero, clockAtLog = TimeSpan.Zero;
        bool interrupted = false, stop = false;
        Model.ZeroGrad();
        // A run whose evaluation failed saved its checkpoint first; resumed, it evaluates there before training on.
        if (state.EvaluationPending && evalSet is not null)
        {
            if (root) stop = EvaluateAndCheckpoint(evalSet, state, outputDirectory, logPath, state.Epoch + (double)state.BatchInEpoch / batchesPerEpoch);
            if (distributed) stop = parallel.AgreeWithRoot(stop);
        }

        int firstBatch = state.BatchInEpoch;
        for (int epoch = state.Epoch; epoch < _args.NumTrainEpochs && !stop; epoch++, firstBatch = 0)
        {
            var order = BatchSampler.EpochOrder(trainSet.Count, _args.Seed, epoch, _args.GroupByLength ? trainSet : null);
            for (int b = firstBatch; b < batchesPerEpoch; b++)
            {
                int start = b * batch, count = Math.Min(batch, trainSet.Count - start);
                var input = _task.Collate(trainSet, order.AsSpan(start, count), Tokenizer.PadId);
                // The last group of an epoch may hold fewer batches; scale by its real size so each
                // update is a mean over the batches it saw, as HF's Trainer does.
                int groupStart = b / accumulation * accumulation;
                int groupSize = Math.Min(accumulation, batchesPerEpoch - groupStart);
                float loss = 0;
                if (distributed)
                {
                    groupLoss += TrainShare(parallel, input, b, trainSet.Count, groupSize);
                }
                else
                {
                    loss = Model.TrainStep(input, 1f / groupSize);
                    if (!float.IsFinite(loss)) throw Diverged(state, outputDirectory, $"the loss is {loss}");
                    lossSum += loss;
                    lossCount++;
                }
                state.SamplesSeen += count;
                if (b - groupStart + 1 < groupSize) continue;

                if (distributed)
                {
                    averager!.Finish();
                    // The micro-batches' losses summed over ranks: the same number on every rank, so all stop together.
                    Span<float> reduced = [(float)groupLoss];
                    comm.AllreduceSum(reduced);
                    groupLoss = 0;
                    if (!float.IsFinite(reduced[0])) throw Diverged(state, outputDirectory, $"the loss is {reduced[0]}");
                    lossSum += reduced[0];
                    lossCount += groupSize;
                    loss = reduced[0] / groupSize;
                }
                // After averaging the gradients are equal on every rank, so is their norm and the check on it.
                float gradNorm = GradientClipping.ClipByGlobalNorm(Model.Parameters, _args.MaxGradNorm);
                if (!float.IsFinite(gradNorm)) throw Diverged(state, outputDirectory, $"the gradient norm is {gradNorm}");
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
                if (root)
                {
                    var progress = new TrainingProgress(state.GlobalStep, maxSteps, epochFraction, _args.NumTrainEpochs, loss, lr, rate,
                        TimeSpan.FromSeconds(secondsPerStep * (maxSteps - state.GlobalStep)));
                    Progress?.Invoke(progress);
                    ProgressReporter?.Report(progress);
                }
                if (state.GlobalStep % _args.LoggingSteps == 0 || state.GlobalStep == maxSteps)
                {
                    double? reduceShare = null;
                    if (averager is not null)
                    {
                        // The share of wall time since the last line spent averaging gradients: what more ranks cost.
                        reduceShare = Math.Round((averager.ReduceTime - reducedAtLog) / (clock.Elapsed - clockAtLog), 4);
                        (reducedAtLog, clockAtLog) = (averager.ReduceTime, clock.Elapsed);
                    }
                    if (root)
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
                            AllreduceShare = reduceShare,
                        });
                    }
                    lossSum = 0;
                    lossCount = 0;
                }

                // A stop request, and rank 0's decisions below, hold for every rank: one that went on alone would wait forever.
                bool cancel = distributed ? parallel.AgreeWithRoot(cancellation.IsCancellationRequested) : cancellation.IsCancellationRequested;
                bool evaluateNow = evalSet is not null && (_args.EvalStrategy == IntervalStrategy.Epoch ? endOfEpoch
                    : _args.EvalStrategy == IntervalStrategy.Steps && (state.GlobalStep % _args.EvalSteps == 0 || state.GlobalStep == maxSteps));
                if (evaluateNow)
                {
                    if (root) stop = EvaluateAndCheckpoint(evalSet!, state, outputDirectory, logPath, epochFraction);
                    if (distributed) stop = parallel.AgreeWithRoot(stop);
                }
                else if (root && (endOfEpoch || cancel || (_args.SaveSteps is int every && state.GlobalStep % every == 0)))
                {
                    SaveCheckpoint(outputDirectory, state);
                }
                if (cancel) { interrupted = true; stop = true; }
                if (stop) break;
            }
        }

        IEvaluationReport? report = null;
        if (!interrupted && root)
        {
            if (state.BestModelCheckpoint is not null && Directory.Exists(state.BestModelCheckpoint))
                Checkpoint.Restore(state.BestModelCheckpoint, Model, _optimizer);
            HfDirectory.Save(outputDirectory, Model.Config, Model.ToStateDict(), _openVocab, _doLowerCase, _args.MaxLength);
            if (evalSet is not null)
            {
                report = Evaluate(evalSet, state, outputDirectory).Report;
                AtomicFile.WriteAllText(Path.Combine(outputDirectory, "eval_report.json"), report.ToJson());
                AtomicFile.WriteAllText(Path.Combine(outputDirectory, "eval_report.txt"), report.ToText(4));
            }
            AddOnPackages.TrainingPlots?.Write(outputDirectory, state.LogHistory);
            output!.Commit();
            LogSaved(Logger, finalDirectory, state.GlobalStep);
        }
        else if (interrupted && root)
        {
            LogInterrupted(Logger, state.GlobalStep, outputDirectory);
        }
        // No rank reports success before rank 0 has the model on disk.
        if (distributed) comm.Barrier();

        return new TrainResult
        {
            Interrupted = interrupted,
            GlobalStep = state.GlobalStep,
            OutputDirectory = finalDirectory,
            CheckpointDirectory = interrupted ? outputDirectory : finalDirectory,
            BestCheckpoint = state.BestModelCheckpoint is { } kept ? Path.Combine(interrupted ? outputDirectory : finalDirectory, Path.GetFileName(kept)) : null,
            EvalReport = report,
            TrainSeconds = state.TrainSeconds,
            SamplesPerSecond = state.SamplesSeen / Math.Max(1e-9, state.TrainSeconds),
            PeakMemoryBytes = Process.GetCurrentProcess().PeakWorkingSet64,
            History = state.LogHistory,
        };
    }

    /// <summary>
    /// This rank's forward and backward pass over its slice of micro-batch <paramref name="microBatch"/> (collated whole
    /// in <paramref name="whole"/>, as one process runs it), weighted so that the mean over ranks of the gradients is one
    /// process's gradient for the whole; returns the slice's contribution to the whole's loss.
    /// </summary>
    private double TrainShare(DataParallel parallel, TaskBatch whole, int microBatch, int examples, int groupSize)
    {
        var shard = parallel.Local(microBatch, examples);
        int first = shard.Start - microBatch * parallel.MicroBatchSize, ranks = parallel.Communicator.Size;
        double contribution = 0;
        if (shard.Count > 0)
        {
            var rows = _task.Rows(whole, first, shard.Count);
            // Shard.Weight is the share of a loss averaged over rows; one averaged over tokens or class weights needs their counts.
            double[] total = Model.LossDenominators(whole), local = Model.LossDenominators(rows);
            var part = new TaskBatch
            {
                Input = rows.Input,
                Labels = rows.Labels,
                Targets = rows.Targets,
                LossShares = [.. total.Select((t, k) => t > 0 ? local[k] / t : 0)],
            };
            // The same dropout masks as one process draws for these rows: same keys, indices shifted to the slice.
            Model.DropoutStream.FirstSequence = first;
            // The averager divides the sum over ranks by their number; the shares already make the parts add up to the whole.
            contribution = Model.TrainStep(part, (float)ranks / groupSize);
            Model.DropoutStream.FirstSequence = 0;
        }
        if (whole.Input.BatchSize < ranks)
        {
            // A rank without an example drew no dropout keys; rank 0 always has one, and its count is everyone's.
            Span<long> position = [Model.DropoutStream.Position];
            parallel.Communicator.Broadcast(MemoryMarshal.AsBytes(position), 0);
            Model.DropoutStream.Position = position[0];
        }
        return contribution;
    }

    /// <summary>
    /// Makes every rank start where rank 0 does: its weights (fresh or restored), and when it resumed a checkpoint, the
    /// optimizer's moments and step, the dropout position and the trainer state, so no rank needs the checkpoint itself.
    /// </summary>
    private TrainerState ShareFromRoot(DataParallel parallel, TrainerState state, bool resumed)
    {
        var comm = parallel.Communicator;
        parallel.BroadcastFromRoot([.. Model.ToStateDict().Select(p => p.Value.Data)]);
        if (!resumed) return state;
        for (int i = 0; i < _optimizer.Parameters.Count; i++)
        {
            var (m, v) = _optimizer.Moments(i);
            parallel.BroadcastFromRoot([m, v]);
        }
        var json = comm.IsRoot ? JsonSerializer.SerializeToUtf8Bytes(state, Checkpoint.Json) : [];
        Span<int> length = [json.Length];
        comm.Broadcast(MemoryMarshal.AsBytes(length), 0);
        if (!comm.IsRoot) json = new byte[length[0]];
        comm.Broadcast(json, 0);
        if (comm.IsRoot) return state;
        var shared = JsonSerializer.Deserialize<TrainerState>(json, Checkpoint.Json)!;
        _optimizer.StepCount = shared.OptimizerStepCount;
        Model.DropoutStream.Position = shared.DropoutPosition;
        return shared;
    }

    /// <summary>Scores the current model on a data set of its task: the task's report and the mean loss.</summary>
    public (IEvaluationReport Report, double Loss) Evaluate(ITaskDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return _task.Evaluate(new ManagedRuntime(Model), _task.Encode(data, Tokenizer, _args.MaxLength), _args.EvalBatchSize, Tokenizer.PadId);
    }

    private bool EvaluateAndCheckpoint(IReadOnlyList<EncodedExample> evalSet, TrainerState state, string outputDirectory, string logPath, double epoch)
    {
        (IEvaluationReport, double) result;
        try
        {
            result = _task.Evaluate(new ManagedRuntime(Model), evalSet, _args.EvalBatchSize, Tokenizer.PadId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // What was trained is not thrown away with the evaluation: saved first, marked for --resume to evaluate again.
            state.EvaluationPending = true;
            SaveCheckpoint(outputDirectory, state);
            throw EvaluationFailed(e, state, Checkpoint.Latest(outputDirectory));
        }
        state.EvaluationPending = false;
        var (report, loss) = result;
        var metrics = new Dictionary<string, double> { ["eval_loss"] = loss };
        foreach (var (name, v) in report.Metrics) metrics["eval_" + name] = v;
        Log(state, logPath, new TrainingLogEntry { Kind = "eval", Step = state.GlobalStep, Epoch = Math.Round(epoch, 4), Metrics = metrics });

        // A metric undefined on these data (e.g. a correlation of constant predictions) never counts as an improvement.
        bool lower = _task.LowerIsBetter(_metric);
        bool improved = metrics.TryGetValue("eval_" + _metric, out double value) && double.IsFinite(value)
            && (state.BestMetric is not double best || (lower ? value < best : value > best));
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

    // The evaluation of the final model: it is saved by now, so a failure only needs naming.
    private (IEvaluationReport Report, double Loss) Evaluate(IReadOnlyList<EncodedExample> evalSet, TrainerState state, string outputDirectory)
    {
        try
        {
            return _task.Evaluate(new ManagedRuntime(Model), evalSet, _args.EvalBatchSize, Tokenizer.PadId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw EvaluationFailed(e, state, outputDirectory);
        }
    }

    private static EvaluationFailedException EvaluationFailed(Exception e, TrainerState state, string? saved) =>
        new($"evaluation at step {state.GlobalStep} failed: {e.Message.ReplaceLineEndings(" ")} ({e.GetType().Name}); " +
            $"what was trained is saved in {saved}: fix the evaluation data and run again with --resume", e);

    private void SaveCheckpoint(string outputDirectory, TrainerState state)
    {
        var saved = Checkpoint.Save(outputDirectory, Model, _optimizer, state, _args, _openVocab, _doLowerCase);
        Checkpoint.Prune(outputDirectory, saved, state.BestModelCheckpoint);
    }

    private void Log(TrainerState state, string logPath, TrainingLogEntry entry)
    {
        state.LogHistory.Add(entry);
        File.AppendAllText(logPath, JsonSerializer.Serialize(entry) + "\n");
        if (entry.Metrics is { } metrics)
        {
            // Only an enabled logger pays for the metrics' string.
            if (Logger.IsEnabled(LogLevel.Information))
                LogEvaluation(Logger, entry.Step, string.Join(", ", metrics.Select(m => $"{m.Key} {m.Value.ToString("G6", CultureInfo.InvariantCulture)}")));
        }
        else
        {
            LogStep(Logger, entry.Step, entry.Epoch, entry.Loss ?? double.NaN, entry.LearningRate ?? double.NaN);
        }
        Logged?.Invoke(entry);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "training on {Examples} examples: {MaxSteps} optimizer steps over {Epochs} epochs, into {Directory}")]
    private static partial void LogStarting(ILogger logger, int examples, int maxSteps, int epochs, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "resumed from {Checkpoint} at step {Step}")]
    private static partial void LogResumed(ILogger logger, string checkpoint, int step);

    [LoggerMessage(Level = LogLevel.Information, Message = "step {Step} (epoch {Epoch}): loss {Loss}, learning rate {LearningRate}")]
    private static partial void LogStep(ILogger logger, int step, double epoch, double loss, double learningRate);

    [LoggerMessage(Level = LogLevel.Information, Message = "evaluation at step {Step}: {Metrics}")]
    private static partial void LogEvaluation(ILogger logger, int step, string metrics);

    [LoggerMessage(Level = LogLevel.Information, Message = "model saved in {Directory} after {Step} steps")]
    private static partial void LogSaved(ILogger logger, string directory, int step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "stopped at step {Step}; the checkpoint to resume from is in {Directory}")]
    private static partial void LogInterrupted(ILogger logger, int step, string directory);

    // Stops a run whose numbers are no longer finite: the optimizer must not write NaN into the weights, and the
    // checkpoints already saved are the last good ones.
    private static TrainingDivergedException Diverged(TrainerState state, string outputDirectory, string what)
    {
        string last = Checkpoint.Latest(outputDirectory) is { } c ? $"; the last good checkpoint is {c}" : "; no checkpoint was saved yet";
        return new TrainingDivergedException(
            $"training diverged at step {state.GlobalStep + 1}: {what} (try a lower learning rate){last}");
    }
}
