using BertSharp.Plots;
using BertSharp.Training;

namespace BertSharp.Tests.Training;

public class TrainingPlotsTests
{
    [Fact]
    public void SmoothingIsTensorBoardsDebiasedMovingAverage()
    {
        // By hand: s₁ = 0.5·1 / (1 − 0.5) = 1; s₂ = (0.5·0.5 + 0.5·0) / (1 − 0.25) = 1/3; s₃ = (0.5·0.25 + 0.5·1) / (1 − 0.125) = 5/7.
        var smoothed = TrainingPlots.Smooth([1, 0, 1], 0.5);
        Assert.Equal([1.0, 1.0 / 3, 5.0 / 7], smoothed, (a, b) => Math.Abs(a - b) < 1e-12);
        Assert.All(TrainingPlots.Smooth([2.5, 2.5, 2.5, 2.5], 0.9), v => Assert.Equal(2.5, v, 12));
        Assert.Equal([3.0, 1.0, 4.0], TrainingPlots.Smooth([3, 1, 4], 0));
    }

    [Fact]
    public void EveryScoreOfTheTaskIsDrawnAndLossesAreNot()
    {
        var dir = Directory.CreateTempSubdirectory("bertsharp-plots-").FullName;
        try
        {
            // A question-answering history: its scores are exact_match and f1 (0–100), not accuracy.
            var history = new List<TrainingLogEntry>();
            for (int step = 1; step <= 30; step++) history.Add(new TrainingLogEntry { Kind = "train", Step = step, Loss = 3.0 / step });
            foreach (var (step, em) in new[] { (10, 40.0), (20, 55.0), (30, 61.0) })
                history.Add(new TrainingLogEntry { Kind = "eval", Step = step, Metrics = new Dictionary<string, double> { ["eval_loss"] = 1.0, ["eval_exact_match"] = em, ["eval_f1"] = em + 10 } });
            new TrainingPlots().Write(dir, history);
            foreach (var file in new[] { ITrainingPlots.LossFile, ITrainingPlots.MetricsFile })
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(dir, file))[..4]);
            // Only losses logged: no evaluation chart.
            var lossOnly = Path.Combine(dir, "loss-only");
            Directory.CreateDirectory(lossOnly);
            new TrainingPlots().Write(lossOnly, [.. history.Where(e => e.Kind == "train"), new TrainingLogEntry { Kind = "eval", Step = 30, Metrics = new Dictionary<string, double> { ["eval_loss"] = 1.0 } }]);
            Assert.False(File.Exists(Path.Combine(lossOnly, ITrainingPlots.MetricsFile)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
