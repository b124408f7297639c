using System.CommandLine;
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
        var dataOptions = new DataOptions();
        var command = new Command("eval", """
            Score a fine-tuned classifier on labelled data: accuracy, per-class precision/recall/F1, averages,
            confusion matrix and (two classes) ROC-AUC.

            Example:
              bertsharp eval --model out/polarity --data ../shared/data/sentence-polarity/dev.csv
            """);
        command.Options.Add(model);
        command.Options.Add(data);
        command.Options.Add(json);
        command.Options.Add(batch);
        command.Options.Add(runtime);
        command.Options.Add(bf16);
        dataOptions.AddTo(command);
        command.SetAction(parse =>
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
            var texts = dataset.Select(e => e.Text).ToArray();
            var pairs = dataset.TextPairColumn is null ? null : dataset.Select(e => e.TextPair).ToArray();
            var probabilities = classifier.Probabilities(texts, pairs, batchSize: parse.GetValue(batch));
            int k = classifier.Labels.Count;
            var predicted = new int[dataset.Count];
            for (int i = 0; i < predicted.Length; i++) predicted[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(probabilities.AsSpan(i * k, k));
            double[] positive = k == 2 ? Enumerable.Range(0, dataset.Count).Select(i => (double)probabilities[i * k + 1]).ToArray() : [];
            var report = ClassificationReport.Create(truth, predicted, classifier.Labels, positive);
            Console.WriteLine(parse.GetValue(json) ? report.ToJson() : report.ToText(4));
            return 0;
        });
        return command;
    }
}
