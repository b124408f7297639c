using BertSharp.Training;
using ScottPlot;

namespace BertSharp.Plots;

/// <summary>
/// Draws the training loss and the evaluation metrics to PNG files beside the model; the trainer creates it by name
/// (see <see cref="ITrainingPlots"/>) when the application references this package.
/// </summary>
internal sealed class TrainingPlots : ITrainingPlots
{
    public void Write(string directory, IReadOnlyList<TrainingLogEntry> history)
    {
        var train = history.Where(e => e.Kind == "train" && e.Loss is not null).ToList();
        if (train.Count > 0)
        {
            var plot = new Plot();
            plot.Add.Scatter(train.Select(e => (double)e.Step).ToArray(), train.Select(e => e.Loss!.Value).ToArray()).LegendText = "train loss";
            var evalLoss = history.Where(e => e.Kind == "eval" && e.Metrics?.ContainsKey("eval_loss") == true).ToList();
            if (evalLoss.Count > 0)
                plot.Add.Scatter(evalLoss.Select(e => (double)e.Step).ToArray(), evalLoss.Select(e => e.Metrics!["eval_loss"]).ToArray()).LegendText = "eval loss";
            plot.Title("Loss");
            plot.XLabel("optimizer step");
            plot.YLabel("cross-entropy");
            plot.ShowLegend();
            Save(plot, Path.Combine(directory, ITrainingPlots.LossFile));
        }

        var evals = history.Where(e => e.Kind == "eval" && e.Metrics is not null).ToList();
        if (evals.Count > 0)
        {
            var plot = new Plot();
            var steps = evals.Select(e => (double)e.Step).ToArray();
            foreach (var metric in new[] { "eval_accuracy", "eval_f1", "eval_precision", "eval_recall" })
            {
                if (!evals.All(e => e.Metrics!.ContainsKey(metric))) continue;
                plot.Add.Scatter(steps, evals.Select(e => e.Metrics![metric]).ToArray()).LegendText = metric["eval_".Length..];
            }
            plot.Title("Evaluation");
            plot.XLabel("optimizer step");
            plot.ShowLegend();
            Save(plot, Path.Combine(directory, ITrainingPlots.MetricsFile));
        }
    }

    private static void Save(Plot plot, string path)
    {
        var temp = path + ".tmp";
        plot.SavePng(temp, 800, 500);
        File.Move(temp, path, overwrite: true);
    }
}
