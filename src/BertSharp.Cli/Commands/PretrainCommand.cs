using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using BertSharp.Data;
using BertSharp.IO;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

internal static class PretrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Unlabelled text: a .txt file (blank lines between documents), a folder of .txt files (one document each), or a CSV/TSV/JSONL/Parquet file's --text-column", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Held-out text; without it --validation-split of the documents is held out" };
        var model = new Option<string>("--model") { Description = "Base model (weights and vocabulary): minilm-l6, arctic-xs, an HF directory or a hub name", DefaultValueFactory = _ => "minilm-l6" };
        var config = new Option<string?>("--config") { Description = "Pre-train from scratch: tiny, mini, small, base or a config.json (the base model then gives only the vocabulary)" };
        var nsp = new Option<bool>("--nsp") { Description = "Also train next-sentence prediction (BertForPreTraining) on sentence pairs, 50% true next segment" };
        var wholeWord = new Option<bool>("--whole-word-mask") { Description = "Mask whole words (a token and its ## pieces together)" };
        var probability = new Option<double>("--mlm-probability") { Description = "Share of tokens masked", DefaultValueFactory = _ => 0.15 };
        var output = new Option<string>("--output", "-o") { Description = "Directory for checkpoints and the pre-trained model", Required = true };
        var select = new Option<int?>("--select") { Description = "Use N documents taken after a seeded shuffle" };
        var validationSplit = new Option<double>("--validation-split") { Description = "Share of documents held out when --eval is absent", DefaultValueFactory = _ => 0.05 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the text (masked afresh each time)", DefaultValueFactory = _ => 1 };
        var lr = new Option<float>("--learning-rate", "--lr") { Description = "Peak AdamW learning rate", DefaultValueFactory = _ => 5e-5f };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per training batch", DefaultValueFactory = _ => 16 };
        var evalBatch = new Option<int>("--eval-batch-size") { Description = "Sequences per evaluation batch", DefaultValueFactory = _ => 32 };
        var maxLength = new Option<int>("--max-length") { Description = "Tokens per packed sequence, [CLS] and [SEP] included", DefaultValueFactory = _ => 128 };
        var warmup = new Option<float>("--warmup-ratio") { Description = "Share of steps spent warming the learning rate up", DefaultValueFactory = _ => 0.06f };
        var weightDecay = new Option<float>("--weight-decay") { Description = "AdamW decoupled weight decay", DefaultValueFactory = _ => 0.01f };
        var accumulation = new Option<int>("--gradient-accumulation-steps") { Description = "Batches per optimizer step", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed for splits, masking, sentence pairs, dropout and new weights", DefaultValueFactory = _ => 42 };
        var evalStrategy = new Option<string>("--eval-strategy") { Description = "epoch, steps or no", DefaultValueFactory = _ => "epoch" };
        var evalSteps = new Option<int>("--eval-steps") { Description = "Evaluate every N steps with --eval-strategy steps", DefaultValueFactory = _ => 500 };
        var loggingSteps = new Option<int>("--logging-steps") { Description = "Log the mean training loss every N optimizer steps", DefaultValueFactory = _ => 10 };
        var saveSteps = new Option<int?>("--save-steps") { Description = "Also checkpoint every N optimizer steps" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in --output" };
        var overwrite = new Option<bool>("--overwrite-output-dir") { Description = "Replace a model or checkpoints already in --output" };
        var bf16 = ProviderOption.Create();
        var json = new Option<bool>("--json") { Description = "Print the result (held-out scores before and after) as JSON" };
        var distributed = DistributedOption.Create();
        var dataOptions = new DataOptions();

        var command = new Command("pretrain", """
            Masked-language-model (and next-sentence) pre-training: continue a model on your own text (domain- or
            task-adaptive pre-training) or train one from scratch. The result is a model directory that train,
            fill-mask and bias-probe take.

            Examples:
              bertsharp pretrain --data ../shared/data/imdb/train --model minilm-l6 --max-length 128 -o out/imdb-mlm
              bertsharp pretrain --data ../shared/data/sentence-polarity/train.csv --text-column text --epochs 3 -o out/polarity-mlm
              bertsharp pretrain --data books.txt --config mini --nsp --whole-word-mask --epochs 10 -o out/mini
              bertsharp pretrain --data reviews.jsonl -o out/reviews-mlm --resume
              mpirun -np 4 bertsharp pretrain --data books.txt --config mini --batch-size 16 -o out/mini   (data-parallel: a batch of 64)
            """);
        foreach (var o in new Option[] { data, eval, model, config, nsp, wholeWord, probability, output, select, validationSplit, epochs, lr, batch,
            evalBatch, maxLength, warmup, weightDecay, accumulation, seed, evalStrategy, evalSteps, loggingSteps, saveSteps, resume, overwrite, bf16, json, distributed })
        {
            command.Options.Add(o);
        }
        dataOptions.AddTo(command);

        command.SetAction(parse => DistributedOption.Run(parse, distributed, communicator =>
        {
            var args = new TrainingArguments
            {
                NumTrainEpochs = parse.GetValue(epochs),
                LearningRate = parse.GetValue(lr),
                TrainBatchSize = parse.GetValue(batch),
                EvalBatchSize = parse.GetValue(evalBatch),
                WeightDecay = parse.GetValue(weightDecay),
                WarmupRatio = parse.GetValue(warmup),
                MaxLength = parse.GetValue(maxLength),
                GradientAccumulationSteps = parse.GetValue(accumulation),
                Seed = parse.GetValue(seed),
                EvalStrategy = parse.GetValue(evalStrategy)!,
                EvalSteps = parse.GetValue(evalSteps),
                SaveSteps = parse.GetValue(saveSteps),
                LoggingSteps = parse.GetValue(loggingSteps),
                OverwriteOutputDir = parse.GetValue(overwrite),
                Bf16 = ProviderOption.Resolve(parse.GetValue(bf16)) == ComputeProvider.OneDnnBf16,
            };
            args.Validate();
            bool asJson = parse.GetValue(json);
            // Every rank trains; rank 0 alone speaks, as it alone writes the outputs.
            var log = !communicator.IsRoot ? TextWriter.Null : asJson ? Console.Error : Console.Out;
            var loadOptions = dataOptions.Read(parse);
            var corpus = TextCorpus.Load(parse.GetValue(data)!, loadOptions);
            if (parse.GetValue(select) is int n)
            {
                if (n <= 0) throw new ArgumentException($"--select {n}: must be ≥ 1");
                corpus = corpus.Sample(n, args.Seed);
            }
            TextCorpus train = corpus;
            TextCorpus? heldOut = null;
            if (parse.GetValue(eval) is { } evalPath) heldOut = TextCorpus.Load(evalPath, loadOptions);
            else if (parse.GetValue(validationSplit) > 0) (train, heldOut) = corpus.Split(parse.GetValue(validationSplit), args.Seed);
            log.WriteLine($"train: {train.Count} documents ({train.SentenceCount} sentences) from {corpus.Source}");
            if (heldOut is not null) log.WriteLine($"held out: {heldOut.Count} documents");

            var trainer = Pretraining.Create(parse.GetValue(model)!, new PretrainingOptions
            {
                NextSentencePrediction = parse.GetValue(nsp),
                WholeWordMasking = parse.GetValue(wholeWord),
                MlmProbability = parse.GetValue(probability),
                Config = parse.GetValue(config),
            }, args);
            log.WriteLine($"model: {trainer.Model.GetType().Name}, {trainer.Model.Config.NumHiddenLayers} layers × {trainer.Model.Config.HiddenSize}; " +
                $"compute: {ComputeProviders.Describe(args.Bf16 ? ComputeProvider.OneDnnBf16 : ComputeProvider.Managed)}");
            var outputDir = parse.GetValue(output)!;
            if (communicator.Size > 1)
            {
                trainer.Communicator = communicator;
                log.WriteLine($"data-parallel: {communicator.Size} ranks × batch {args.TrainBatchSize} × accumulation {args.GradientAccumulationSteps} " +
                    $"= {communicator.Size * args.TrainBatchSize * args.GradientAccumulationSteps} sequences per step ({communicator.Description})");
            }

            Dictionary<string, double>? before = null;
            if (heldOut is not null && !parse.GetValue(resume) && communicator.IsRoot)
            {
                // The starting point, scored on the same held-out text and masks as the end (a fresh head when the
                // base model had none), so the run's gain is visible.
                var (report, _) = trainer.Evaluate(heldOut);
                before = new Dictionary<string, double>(report.Metrics);
                log.WriteLine("held-out before: " + Describe(report.Metrics));
            }

            using var cancel = new CancellationTokenSource();
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                if (cancel.IsCancellationRequested) return;
                cancel.Cancel();
                if (communicator.IsRoot) Console.Error.WriteLine("bertsharp: interrupted; saving a checkpoint at the next step (run again with --resume to continue)");
            }
            using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            trainer.Logged += e =>
            {
                if (e.Kind == "train")
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"train step {e.Step} epoch {e.Epoch:F3}: loss {e.Loss:F4}, lr {e.LearningRate:E2}, grad norm {e.GradNorm:F2}, {e.SamplesPerSecond:F1} sequences/s"));
                else if (e.Metrics is not null)
                    log.WriteLine($"eval  step {e.Step} epoch {e.Epoch:F2}: " + Describe(e.Metrics.ToDictionary(m => m.Key[5..], m => m.Value)));
            };
            var result = trainer.Train(train, heldOut, outputDir, parse.GetValue(resume), cancel.Token);
            if (before is not null && !result.Interrupted)
                AtomicFile.WriteAllText(Path.Combine(outputDir, "eval_before.json"), JsonSerializer.Serialize(before, new JsonSerializerOptions { WriteIndented = true }));
            // Masked-LM sequences are packed to --max-length (all but the last one), so this is tokens/s; sentence
            // pairs (--nsp) are often shorter and it is then an upper bound.
            double tokensPerSecond = result.SamplesPerSecond * args.MaxLength;
            if (asJson && communicator.IsRoot)
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["interrupted"] = result.Interrupted,
                    ["global_step"] = result.GlobalStep,
                    ["output_dir"] = result.OutputDirectory,
                    ["train_seconds"] = Math.Round(result.TrainSeconds, 1),
                    ["train_sequences_per_second"] = Math.Round(result.SamplesPerSecond, 2),
                    ["train_tokens_per_second"] = Math.Round(tokensPerSecond, 1),
                    ["before"] = before,
                    ["after"] = result.EvalReport?.Metrics,
                }));
            }
            else if (result.Interrupted)
            {
                log.WriteLine($"stopped at step {result.GlobalStep}; checkpoint saved in {result.CheckpointDirectory}");
            }
            else
            {
                if (result.EvalReport is not null) log.WriteLine("held-out after: " + Describe(result.EvalReport.Metrics));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"model saved to {outputDir} ({result.TrainSeconds:F0} s, {result.SamplesPerSecond:F1} sequences/s, {tokensPerSecond:F0} tokens/s, peak memory {result.PeakMemoryBytes / (1024 * 1024)} MiB)"));
            }
            return result.Interrupted ? 130 : 0;
        }));
        return command;
    }

    private static string Describe(IReadOnlyDictionary<string, double> metrics) =>
        string.Join(", ", metrics.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:F4}")));
}
