using System.CommandLine;
using System.Globalization;
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
        var revision = ModelSource.Revision();
        var config = new Option<string?>("--config") { Description = "Pre-train from scratch: tiny, mini, small, base or a config.json (the base model then gives only the vocabulary)" };
        var nsp = new Option<bool>("--nsp") { Description = "Also train next-sentence prediction (BertForPreTraining) on sentence pairs, 50% true next segment" };
        var wholeWord = new Option<bool>("--whole-word-mask") { Description = "Mask whole words (a token and its ## pieces together)" };
        var probability = new Option<double>("--mlm-probability") { Description = "Share of tokens masked", DefaultValueFactory = _ => 0.15 };
        var output = new Option<string>("--output", "-o") { Description = "Directory for checkpoints and the pre-trained model", Required = true };
        var select = new Option<int?>("--select") { Description = "Use N documents taken after a seeded shuffle" };
        var validationSplit = new Option<double>("--validation-split") { Description = "Share of documents held out when --eval is absent", DefaultValueFactory = _ => 0.05 };
        var json = new Option<bool>("--json") { Description = "Print the result (held-out scores before and after) as JSON" };
        var recipe = new RecipeOptions(epochs: 1, learningRate: 5e-5f, batchSize: 16, warmupRatio: 0.06f, examples: "sequences");
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
        foreach (var o in new Option[] { data, eval, model, revision, config, nsp, wholeWord, probability, output, select, validationSplit, json })
        {
            command.Options.Add(o);
        }
        recipe.AddTo(command);
        dataOptions.AddTo(command);

        command.SetAction(parse => DistributedOption.Run(parse, recipe.Distributed, communicator =>
        {
            var args = recipe.Read(parse);
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

            var trainer = Pretraining.Create(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)), new PretrainingOptions
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
            if (heldOut is not null && !parse.GetValue(recipe.Resume) && communicator.IsRoot)
            {
                // The starting point, scored on the same held-out text and masks as the end (a fresh head when the
                // base model had none), so the run's gain is visible.
                var (report, _) = trainer.Evaluate(heldOut);
                before = new Dictionary<string, double>(report.Metrics);
                log.WriteLine("held-out before: " + Describe(report.Metrics));
            }

            using var signals = new StopSignals(announce: communicator.IsRoot);
            trainer.Logged += e =>
            {
                if (e.Kind == "train")
                    log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"train step {e.Step} epoch {e.Epoch:F3}: loss {e.Loss:F4}, lr {CliFormat.LearningRate(e.LearningRate)}, grad norm {e.GradNorm:F2}, {e.SamplesPerSecond:F1} sequences/s"));
                else if (e.Metrics is not null)
                    log.WriteLine($"eval  step {e.Step} epoch {e.Epoch:F2}: " + Describe(e.Metrics.ToDictionary(m => m.Key[5..], m => m.Value)));
            };
            var result = trainer.Train(train, heldOut, outputDir, parse.GetValue(recipe.Resume), signals.Token);
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
