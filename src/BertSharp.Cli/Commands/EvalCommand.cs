using System.CommandLine;
using System.Runtime.InteropServices;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Inference;

namespace BertSharp.Cli.Commands;

internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "A fine-tuned model directory", Required = true };
        var data = new Option<string>("--data") { Description = "Labelled data to score (same formats as train)", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var batch = new Option<int>("--batch-size") { Description = "Examples per batch", DefaultValueFactory = _ => 32 };
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var shard = new Option<string?>("--shard") { Description = "Score only part i of N (0-based, e.g. 0/4) of the data; the report covers that part" };
        var distributed = DistributedOption.Create();
        var dataOptions = new DataOptions();
        var command = new Command("eval", """
            Score a fine-tuned classifier on labelled data: accuracy, per-class precision/recall/F1, averages,
            confusion matrix and (two classes) ROC-AUC. Under mpirun the examples are split across the
            ranks and rank 0 reports on all of them.

            Examples:
              bertsharp eval --model out/polarity --data ../shared/data/sentence-polarity/dev.csv
              mpirun -np 2 -x DOTNET_PROCESSOR_COUNT=1 bertsharp eval --model out/polarity --data dev.csv
            """);
        command.Options.Add(model);
        command.Options.Add(data);
        command.Options.Add(json);
        command.Options.Add(batch);
        command.Options.Add(runtime);
        command.Options.Add(bf16);
        command.Options.Add(shard);
        command.Options.Add(distributed);
        dataOptions.AddTo(command);
        command.SetAction(parse => DistributedOption.Run(parse, distributed, communicator =>
        {
            ProviderOption.Validate(parse.GetValue(bf16), RuntimeOption.Parse(parse.GetValue(runtime)));
            using var classifier = TextClassifier.Load(parse.GetValue(model)!, RuntimeOption.Parse(parse.GetValue(runtime)));
            ProviderOption.Apply(classifier, parse.GetValue(bf16));
            var dataset = TextDataset.Load(parse.GetValue(data)!, dataOptions.Read(parse));
            var labels = LabelMap.FromId2Label(classifier.Labels.Select((l, i) => (i, l)).ToDictionary(p => p.i, p => p.l));
            var truth = new int[dataset.Count];
            for (int i = 0; i < dataset.Count; i++)
            {
                if (!labels.TryGetId(dataset[i].Label, out truth[i]))
                    throw new InvalidDataException($"{dataset[i].Location}: label '{dataset[i].Label}' is not one the model knows ({string.Join(", ", classifier.Labels)})");
            }
            var (start, length) = DistributedOption.Part(parse.GetValue(shard), communicator, dataset.Count);
            var texts = dataset.Skip(start).Take(length).Select(e => e.Text).ToArray();
            var pairs = dataset.TextPairColumn is null ? null : dataset.Skip(start).Take(length).Select(e => e.TextPair).ToArray();
            // A rank can get no example when there are fewer than ranks; it still takes part in the gather.
            var local = length == 0 ? [] : classifier.Probabilities(texts, pairs, batchSize: parse.GetValue(batch));
            var probabilities = local;
            if (communicator.Size > 1)
            {
                var parts = communicator.Gather(MemoryMarshal.AsBytes(local.AsSpan()));
                if (parts is null) return 0;
                // Rank r scored a contiguous run of the examples, so rank order is the data's order.
                probabilities = [.. parts.SelectMany(p => MemoryMarshal.Cast<byte, float>(p).ToArray())];
                (start, length) = (0, dataset.Count);
            }
            truth = truth[start..(start + length)];
            int k = classifier.Labels.Count;
            var predicted = new int[length];
            for (int i = 0; i < predicted.Length; i++) predicted[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(probabilities.AsSpan(i * k, k));
            double[] positive = k == 2 ? Enumerable.Range(0, length).Select(i => (double)probabilities[i * k + 1]).ToArray() : [];
            var report = ClassificationReport.Create(truth, predicted, classifier.Labels, positive);
            Console.WriteLine(parse.GetValue(json) ? report.ToJson() : report.ToText(4));
            return 0;
        }));
        return command;
    }
}
