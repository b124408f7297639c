using BertSharp.Training;
using ScottPlot;

namespace BertSharp.Plots;

/// <summary>
/// Draws the training loss and the evaluation metrics to PNG files beside the model; the trainer creates it by name
/// (see <see cref="ITrainingPlots"/>) when the application references this package.
/// </summary>
internal sealed class TrainingPlots : ITrainingPlots
{
    // TensorBoard's smoothing: a debiased exponential moving average; 0.9 keeps the trend of a noisy per-step loss
    // while a drop of a few logging intervals still shows.
    private const double SmoothingWeight = 0.9;

    // Evaluation keys that are not scores on one scale: losses and errors go with the loss, timings nowhere.
    private static readonly string[] NotScores = ["eval_loss", "eval_perplexity", "eval_mse", "eval_mae", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"];

    public void Write(string directory, IReadOnlyList<TrainingLogEntry> history)
    {
        var train = history.Where(e => e.Kind == "train" && e.Loss is not null).ToList();
        if (train.Count > 0)
        {
            var plot = new Plot();
            var steps = train.Select(e => (double)e.Step).ToArray();
            var loss = train.Select(e => e.Loss!.Value).ToArray();
            var raw = plot.Add.ScatterLine(steps, loss);
            raw.LegendText = "train loss";
            raw.Color = Colors.Blue.WithAlpha(0.3);
            raw.LineWidth = 1;
            if (train.Count > 2)
            {
                var smooth = plot.Add.ScatterLine(steps, Smooth(loss, SmoothingWeight));
                smooth.LegendText = $"train loss, smoothed ({SmoothingWeight})";
                smooth.Color = Colors.Blue;
                smooth.LineWidth = 2.5f;
            }
            var evalLoss = history.Where(e => e.Kind == "eval" && e.Metrics?.ContainsKey("eval_loss") == true).ToList();
            if (evalLoss.Count > 0)
            {
                var points = plot.Add.Scatter(evalLoss.Select(e => (double)e.Step).ToArray(), evalLoss.Select(e => e.Metrics!["eval_loss"]).ToArray());
                points.LegendText = "eval loss";
                points.Color = Colors.OrangeRed;
                points.MarkerSize = 8;
                points.LineWidth = 2;
            }
            plot.Title("Loss");
            plot.XLabel("optimizer step");
            plot.YLabel("loss");
            plot.ShowLegend();
            Save(plot, Path.Combine(directory, ITrainingPlots.LossFile));
        }

        var evals = history.Where(e => e.Kind == "eval" && e.Metrics is not null).ToList();
        var scores = evals.SelectMany(e => e.Metrics!.Keys).Distinct()
            .Where(k => !NotScores.Contains(k) && evals.All(e => e.Metrics!.ContainsKey(k))).Order(StringComparer.Ordinal).ToList();
        if (evals.Count > 0 && scores.Count > 0)
        {
            var plot = new Plot();
            var steps = evals.Select(e => (double)e.Step).ToArray();
            foreach (var metric in scores)
            {
                var line = plot.Add.Scatter(steps, evals.Select(e => e.Metrics![metric]).ToArray());
                line.LegendText = metric["eval_".Length..];
                line.MarkerSize = 8;
                line.LineWidth = 2;
            }
            plot.Title("Evaluation");
            plot.XLabel("optimizer step");
            plot.ShowLegend();
            Save(plot, Path.Combine(directory, ITrainingPlots.MetricsFile));
        }
    }

    /// <summary>
    /// The debiased exponential moving average TensorBoard draws: s = w·s + (1 − w)·x from 0, divided by 1 − wⁿ so
    /// the first points are not pulled towards zero.
    /// </summary>
    internal static double[] Smooth(IReadOnlyList<double> values, double weight)
    {
        var result = new double[values.Count];
        double last = 0, debias = 1;
        for (int i = 0; i < values.Count; i++)
        {
            last = weight * last + (1 - weight) * values[i];
            debias *= weight;
            result[i] = last / (1 - debias);
        }
        return result;
    }

    private static void Save(Plot plot, string path)
    {
        var temp = path + ".tmp";
        plot.SavePng(temp, 800, 500);
        File.Move(temp, path, overwrite: true);
    }
}
