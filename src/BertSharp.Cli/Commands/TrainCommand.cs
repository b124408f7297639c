using System.CommandLine;
using System.Globalization;
using BertSharp.Tensors;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Training;
using Spectre.Console;

namespace BertSharp.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Training data: CSV/TSV, JSON Lines, Parquet or an IMDB folder", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Evaluation data; without it a stratified --validation-split is held out" };
        var model = new Option<string>("--model") { Description = "Base model: minilm-l6, arctic-xs, an HF directory or a hub name", DefaultValueFactory = _ => "minilm-l6" };
        var revision = ModelSource.Revision();
        var output = new Option<string>("--output", "-o") { Description = "Directory for checkpoints and the fine-tuned model", Required = true };
        var select = new Option<int?>("--select") { Description = "Train on N examples taken after a seeded shuffle (the spec's quick recipe uses 2000)" };
        var validationSplit = new Option<double>("--validation-split") { Description = "Share of the training data held out for evaluation when --eval is absent", DefaultValueFactory = _ => 0.2 };
        var clip = new Option<float>("--max-grad-norm") { Description = "Clip gradients to this global norm (0 = off)", DefaultValueFactory = _ => 1f };
        var dropout = new Option<float?>("--dropout") { Description = "Dropout in the encoder and head (default: the model's, 0.1)" };
        var metric = new Option<string?>("--metric")
        {
            Description = "Metric that picks the best checkpoint (default: accuracy; micro_f1 for multi-label; mse for regression): " +
                "accuracy, f1, f1_weighted, precision, recall, roc_auc; micro_f1, macro_f1, subset_accuracy, hamming_loss; mse, mae, pearson, spearman; or loss",
        };
        var patience = new Option<int?>("--early-stopping-patience") { Description = "Stop after N evaluations without improvement" };
        var classWeights = new Option<string?>("--class-weights") { Description = "balanced, or one weight per label in label order (w1,w2,…)" };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch examples of similar length together (faster, less padding)" };
        var task = new Option<string>("--task") { Description = "The task: text-classification, token-classification or question-answering (SQuAD JSON or JSON Lines)", DefaultValueFactory = _ => "text-classification" };
        var problemType = new Option<string>("--problem-type")
        {
            Description = "text-classification: single_label_classification (one label per text), multi_label_classification " +
                "(several names in the label column, a JSON list or joined by --label-separator) or regression (a number)",
            DefaultValueFactory = _ => "single_label_classification",
        };
        var separator = new Option<string>("--label-separator") { Description = "How a multi-label column joins its label names", DefaultValueFactory = _ => MultiLabels.DefaultSeparator };
        var head = new Option<ClassifierHeadInput>("--head-input") { Description = "What the classifier reads: PoolerOutput (as Hugging Face) or ClsHiddenState (the raw [CLS] state)", DefaultValueFactory = _ => ClassifierHeadInput.PoolerOutput };
        var json = new Option<bool>("--json") { Description = "Print the final result as JSON" };
        var recipe = new RecipeOptions(epochs: 3, learningRate: 2e-5f, batchSize: 8, warmupRatio: 0f, examples: "examples");
        var dataOptions = new DataOptions();
        var tokenClassification = new TokenClassificationOptions();
        var qaOptions = new QuestionAnsweringOptions();

        var command = new Command("train", """
            Fine-tune a BERT on labelled data and evaluate it every epoch.

            Examples:
              bertsharp train --data ../shared/data/sentence-polarity/train.csv --eval ../shared/data/sentence-polarity/dev.csv --select 2000 -o out/polarity
              bertsharp train --data ../shared/data/conll2003/eng.train --eval ../shared/data/conll2003/eng.testa --problem-type multi_label_classification -o out/entity-types
              bertsharp train --data ../shared/data/imdb/train --label-column rating --problem-type regression --max-length 256 --select 2000 -o out/rating
              bertsharp train --data reviews.jsonl --class-weights balanced --early-stopping-patience 2 -o out/reviews
              bertsharp train --data reviews.jsonl -o out/reviews --resume
              bertsharp train --data reviews.jsonl -o out/reviews --bf16
              bertsharp train --task token-classification --data ../shared/data/conll2003/eng.train --eval ../shared/data/conll2003/eng.testa --lr 5e-5 -o out/ner
              mpirun -np 4 bertsharp train --data reviews.jsonl --batch-size 8 -o out/reviews   (data-parallel: 4 ranks × 8 = a batch of 32)
            """);
        foreach (var o in new Option[] { data, eval, model, revision, output, select, validationSplit, clip, dropout, metric, patience, classWeights, groupByLength,
            task, problemType, separator, head, json })
        {
            command.Options.Add(o);
        }
        recipe.AddTo(command);
        dataOptions.AddTo(command);
        tokenClassification.AddTo(command);
        qaOptions.AddTo(command);

        command.SetAction(parse => DistributedOption.Run(parse, recipe.Distributed, communicator =>
        {
            var args = recipe.Read(parse) with
            {
                MaxGradNorm = parse.GetValue(clip),
                Dropout = parse.GetValue(dropout),
                MetricForBestModel = parse.GetValue(metric),
                EarlyStoppingPatience = parse.GetValue(patience),
                ClassWeights = parse.GetValue(classWeights),
                GroupByLength = parse.GetValue(groupByLength),
            };
            args.Validate();
            bool asJson = parse.GetValue(json);
            // Every rank trains; rank 0 alone speaks, as it alone writes the outputs.
            var log = !communicator.IsRoot ? TextWriter.Null : asJson ? Console.Error : Console.Out;
            var setup = new TaskSetup(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)), parse.GetValue(data)!, parse.GetValue(eval), dataOptions.Read(parse), parse.GetValue(select),
                parse.GetValue(validationSplit), args, log);
            var (trainer, train, validation) = parse.GetValue(task) switch
            {
                "text-classification" => TextClassification(setup, ParseProblemType(parse.GetValue(problemType)!), parse.GetValue(separator)!, parse.GetValue(head)),
                "token-classification" => tokenClassification.Setup(parse, setup),
                "question-answering" => QuestionAnsweringOptions.Setup(setup, qaOptions.Read(parse, args.MaxLength), recipe.MaxLengthGiven(parse)),
                var other => throw new ArgumentException($"--task {other}: not a task BertSharp trains (text-classification, token-classification, question-answering)"),
            };
            log.WriteLine($"compute: {ComputeProviders.Describe(args.Bf16 ? ComputeProvider.OneDnnBf16 : ComputeProvider.Managed)}");
            if (communicator.Size > 1)
            {
                trainer.Communicator = communicator;
                log.WriteLine($"data-parallel: {communicator.Size} ranks × batch {args.TrainBatchSize} × accumulation {args.GradientAccumulationSteps} " +
                    $"= {communicator.Size * args.TrainBatchSize * args.GradientAccumulationSteps} examples per step ({communicator.Description})");
            }
            var outputDir = parse.GetValue(output)!;
            if (communicator.IsRoot) AtomicFile.RemoveStale(outputDir);
            using var signals = new StopSignals(announce: communicator.IsRoot);
            {
                var result = RunWithProgress(trainer, train, validation, outputDir, parse.GetValue(recipe.Resume), signals.Token, log);
                if (asJson && communicator.IsRoot)
                {
                    Console.WriteLine(JsonSerializer.Serialize(Summary(result)));
                }
                else if (result.Interrupted)
                {
                    log.WriteLine($"stopped at step {result.GlobalStep}; checkpoint saved in {result.CheckpointDirectory}");
                }
                else
                {
                    if (result.EvalReport is not null) log.Write(ReportText.For(result.EvalReport));
                    log.WriteLine($"model saved to {outputDir} ({result.TrainSeconds:F0} s, {result.SamplesPerSecond:F1} samples/s, peak memory {result.PeakMemoryBytes / (1024 * 1024)} MiB)");
                }
                return result.Interrupted ? 130 : 0;
            }
        }));
        return command;
    }

    /// <summary>What every task's setup reads from the command line.</summary>
    internal sealed record TaskSetup(string Model, string Data, string? Eval, DatasetLoadOptions DataOptions, int? Select, double ValidationSplit,
        TrainingArguments Args, TextWriter Log);

    private static (Trainer, ITaskDataset, ITaskDataset?) TextClassification(TaskSetup s, ProblemType problemType, string separator, ClassifierHeadInput head)
    {
        bool single = problemType == ProblemType.SingleLabelClassification;
        var options = s.DataOptions with { AllowEmptyLabels = problemType == ProblemType.MultiLabelClassification || s.DataOptions.AllowEmptyLabels };
        var (train, validation) = LoadSplits(s.Data, s.Eval, options, s.Select, s.ValidationSplit, s.Args.Seed, stratify: single);
        var labels = problemType switch
        {
            ProblemType.SingleLabelClassification => LabelMap.FromTrainingData(train),
            ProblemType.MultiLabelClassification => MultiLabels.LabelMapOf(train, separator),
            _ => LabelMap.FromLabels([train.LabelColumn]),
        };
        s.Log.WriteLine($"train: {train.Count} examples from {train.Source}");
        if (single) s.Log.WriteLine(train.DescribeClassBalance().TrimEnd());
        if (validation is not null)
        {
            s.Log.WriteLine($"eval: {validation.Count} examples from {validation.Source}");
            if (single) s.Log.WriteLine(validation.DescribeClassBalance().TrimEnd());
        }
        s.Log.WriteLine($"{JsonNamingPolicy.SnakeCaseLower.ConvertName(problemType.ToString())}, labels: {labels}");
        // Scores given as labels trained as so many classes without a word (0.11, 0.54, …: 33 classes).
        if (single && labels.Id2Label.All(l => double.TryParse(l, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            && labels.Id2Label.Any(l => !long.TryParse(l, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
            Console.Error.WriteLine($"bertsharp: warning: the {labels.Count} labels are numbers, not all whole ({Shown.List(labels.Id2Label)}): each is trained as a class of its own; for a score to predict, give --problem-type regression");
        return (Trainer.Create(s.Model, labels, s.Args, head, problemType, separator), train, validation);
    }

    internal static ProblemType ParseProblemType(string name) => name switch
    {
        "single_label_classification" => ProblemType.SingleLabelClassification,
        "multi_label_classification" => ProblemType.MultiLabelClassification,
        "regression" => ProblemType.Regression,
        _ => throw new ArgumentException($"--problem-type {name}: use single_label_classification, multi_label_classification or regression"),
    };

    internal static (TextDataset Train, TextDataset? Validation) LoadSplits(string dataPath, string? evalPath, DatasetLoadOptions options,
        int? select, double validationSplit, int seed, bool stratify = true)
    {
        // Checked before any data is read, and even with --eval: a wrong value is a mistake either way.
        if (!(validationSplit is >= 0 and < 1)) throw new ArgumentException($"--validation-split {validationSplit}: must be in [0, 1)");
        var train = TextDataset.Load(dataPath, options);
        if (select is int n)
        {
            if (n <= 0) throw new ArgumentException($"--select {n}: must be ≥ 1");
            train = train.Shuffle(seed).Select(Math.Min(n, train.Count));
        }
        if (evalPath is not null) return (train, TextDataset.Load(evalPath, options));
        if (validationSplit == 0) return (train, null);
        var split = train.TrainTestSplit(validationSplit, seed, stratify);
        return (split["train"], split["test"]);
    }

    private static TrainResult RunWithProgress(Trainer trainer, ITaskDataset train, ITaskDataset? eval, string outputDir, bool resume,
        CancellationToken cancel, TextWriter log)
    {
        trainer.Logged += e =>
        {
            if (e.Kind == "eval" && e.Metrics is not null)
                LiveConsole.WriteLine(log, $"eval  step {e.Step} epoch {e.Epoch:F2}: " + string.Join(", ", e.Metrics.Select(m => $"{m.Key[5..]} {m.Value:F4}")));
        };
        if (log == TextWriter.Null || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            // Not a terminal: plain lines a log file can keep.
            trainer.Logged += e =>
            {
                if (e.Kind == "train")
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"train step {e.Step} epoch {e.Epoch:F2}: loss {e.Loss:F4}, lr {CliFormat.LearningRate(e.LearningRate)}, grad norm {e.GradNorm:F2}, {e.SamplesPerSecond:F1} samples/s"));
            };
            return trainer.Train(train, eval, outputDir, resume, cancel);
        }
        TrainResult? result = null;
        LiveConsole.Run(() => AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: 1);
                trainer.Progress += p =>
                {
                    task.MaxValue = p.MaxSteps;
                    task.Value = p.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"epoch {p.Epoch:F2}/{p.NumEpochs} step {p.Step}/{p.MaxSteps} loss {p.Loss:F4} lr {CliFormat.LearningRate(p.LearningRate)} {p.SamplesPerSecond:F1}/s");
                };
                result = trainer.Train(train, eval, outputDir, resume, cancel);
            }));
        return result!;
    }

    private static Dictionary<string, object?> Summary(TrainResult r) => new()
    {
        ["interrupted"] = r.Interrupted,
        ["global_step"] = r.GlobalStep,
        ["output_dir"] = r.OutputDirectory,
        ["best_checkpoint"] = r.BestCheckpoint,
        ["train_seconds"] = Math.Round(r.TrainSeconds, 1),
        ["train_samples_per_second"] = Math.Round(r.SamplesPerSecond, 2),
        ["peak_memory_bytes"] = r.PeakMemoryBytes,
        ["eval"] = r.EvalReport is null ? null : JsonDocument.Parse(r.EvalReport.ToJson(indented: false)).RootElement,
        ["history"] = r.History,
    };
}
