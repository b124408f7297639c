using System.CommandLine;
using BertSharp.Distributed;
using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.QuestionAnswering;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A fine-tuned model directory", Required = true };
        var revision = ModelSource.Revision();
        var data = new Option<string>("--data") { Description = "Labelled data to score (the formats train reads for the model's task)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var output = OutputOption.Create("the report");
        var batch = new Option<int>("--batch-size") { Description = "Examples per batch", DefaultValueFactory = _ => 32 };
        var predictions = new Option<string?>("--predictions") { Description = "question-answering: write the answers as SQuAD's predictions.json (question id → text)" };
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var shard = new Option<string?>("--shard") { Description = "Score only part i of N (0-based, e.g. 0/4) of the data; the report covers that part" };
        var distributed = DistributedOption.Create();
        var dataOptions = new DataOptions();
        var command = new Command("eval", """
            Score a fine-tuned model on labelled data with its task's metrics: a classifier's accuracy, per-class
            precision/recall/F1, averages, confusion matrix and (two classes) ROC-AUC; a multi-label classifier's
            micro/macro F1 and subset accuracy; a regressor's MSE, MAE, Pearson and Spearman.

            A question-answering model reports SQuAD v1.1 exact match and F1.

            Examples:
              bertsharp eval --model out/polarity --data ../shared/data/sentence-polarity/dev.csv
              bertsharp eval --model out/polarity --data dev.csv --shard 0/4 --json
              mpirun -np 4 -x DOTNET_PROCESSOR_COUNT=1 bertsharp eval --model out/polarity --data dev.csv
              bertsharp eval --model out/squad --data eval.json --predictions predictions.json
            """);
        command.Options.Add(model);
        command.Options.Add(revision);
        command.Options.Add(data);
        command.Options.Add(json);
        command.Options.Add(output);
        command.Options.Add(batch);
        command.Options.Add(predictions);
        command.Options.Add(runtime);
        command.Options.Add(bf16);
        command.Options.Add(shard);
        command.Options.Add(distributed);
        dataOptions.AddTo(command);
        command.SetAction(parse => DistributedOption.Run(parse, distributed, communicator =>
        {
            if (communicator.Size > 1 && parse.GetValue(shard) is { } given)
                throw new ArgumentException($"--shard {given} under mpirun: the ranks already split every batch; give one or the other");
            var engine = RuntimeOption.Parse(parse.GetValue(runtime));
            ProviderOption.Validate(parse.GetValue(bf16), engine);
            int batchSize = parse.GetValue(batch);
            if (batchSize < 1) throw new ArgumentException($"--batch-size {batchSize}: must be ≥ 1");
            // Before any work: --predictions over --data replaced the SQuAD file with the answers.
            if (parse.GetValue(predictions) is { } predictionsPath)
            {
                OutputGuard.RefuseInputs(predictionsPath, "--predictions", parse.GetValue(model)!, parse.GetValue(data));
                OutputGuard.RefuseSame(parse.GetValue(output), "--output", predictionsPath, "--predictions");
            }
            using var pipeline = Pipeline.Load(ModelSource.Resolve(parse.GetValue(model)!, parse.GetValue(revision)), engine);
            if (parse.GetValue(predictions) is not null && pipeline is not QuestionAnsweringPipeline)
                throw new ArgumentException("--predictions: only a question-answering model writes predictions.json");
            ProviderOption.Apply(pipeline, parse.GetValue(bf16));
            // Under mpirun rank 0 reads the data and runs the task's evaluation; every batch it scores is split
            // over the ranks, which only hold the model.
            using var split = communicator.Size > 1 ? new RankSplitRuntime(pipeline.Engine, communicator) : null;
            if (split is not null && !communicator.IsRoot)
            {
                split.Serve();
                return 0;
            }
            var task = TaskAdapters.For(pipeline);
            var dataset = task.Load(parse.GetValue(data)!, dataOptions.Read(parse));
            var all = task.Encode(dataset, pipeline.Tokenizer, pipeline.MaxLength);
            var (start, length) = parse.GetValue(shard) is { } part ? ShardSpec.Parse(part).Of(all.Count) : (0, all.Count);
            if (length == 0) throw new ArgumentException($"--shard {parse.GetValue(shard)}: this part of {all.Count} examples is empty");
            // The whole set stays the task's own list (question answering keeps its windows' examples there).
            var encoded = length == all.Count ? all : all.Skip(start).Take(length).ToList();
            var (report, _) = task.Evaluate(split ?? pipeline.Engine, encoded, batchSize, pipeline.Tokenizer.PadId);
            OutputOption.Write(parse.GetValue(output), parse.GetValue(json) ? report.ToJson() + Environment.NewLine : ReportText.For(report),
                parse.GetValue(model)!, parse.GetValue(data));
            if (parse.GetValue(predictions) is { } path)
            {
                AtomicFile.WriteAllText(path, ((SquadReport)report).PredictionsJson());
            }
            return 0;
        }));
        return command;
    }
}
