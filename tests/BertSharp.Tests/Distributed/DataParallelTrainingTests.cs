using BertSharp.IO;
using BertSharp.Training;
using BertSharp.Tests.Training;

namespace BertSharp.Tests.Distributed;

/// <summary>
/// The trainer on two ranks (threads of one process whose collectives really combine, see <see cref="InProcessGroup"/>)
/// against one process with their combined batch: the same examples, dropout masks and gradients, hence the same losses
/// and weights to float rounding. The truth is the one-process run, which predates data parallelism.
/// </summary>
public sealed class DataParallelTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bertsharp-data-parallel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(41, 1)] // the last micro-batch of an epoch holds one example: rank 1 runs none
    [InlineData(45, 2)] // slices of 3 and 2 at the end, and two micro-batches per step
    public void Two_ranks_log_the_losses_and_reach_the_weights_of_one_process_with_their_combined_batch(int examples, int accumulation)
    {
        var train = TrainerTests.Polarity("train.csv", examples);
        var dev = TrainerTests.Polarity("dev.csv", 24);
        // Dropout stays at the tiny model's 0.1: the ranks must draw exactly the masks one process draws.
        TrainingArguments Args(int batch) => new()
        {
            NumTrainEpochs = 2,
            TrainBatchSize = batch,
            GradientAccumulationSteps = accumulation,
            LearningRate = 1e-3f,
            MaxLength = 32,
            LoggingSteps = 1,
            Seed = 7,
        };
        var one = TrainerTests.TinyTrainer(Args(8)).Train(train, dev, Path.Combine(_dir, "one"));
        var ranks = InProcessGroup.Run(2, communicator =>
        {
            var trainer = TrainerTests.TinyTrainer(Args(4));
            trainer.Communicator = communicator;
            return trainer.Train(train, dev, Path.Combine(_dir, "two"));
        });

        var expected = one.History.Where(e => e.Kind == "train").ToList();
        var actual = ranks[0].History.Where(e => e.Kind == "train").ToList();
        Assert.Equal(expected.Select(e => e.Step), actual.Select(e => e.Step));
        for (int i = 0; i < expected.Count; i++)
        {
            AssertClose(expected[i].Loss!.Value, actual[i].Loss!.Value, $"loss at step {expected[i].Step}");
            AssertClose(expected[i].GradNorm!.Value, actual[i].GradNorm!.Value, $"gradient norm at step {expected[i].Step}");
            Assert.NotNull(actual[i].AllreduceShare);
        }
        Assert.Equal(one.GlobalStep, ranks[1].GlobalStep);
        Assert.Empty(ranks[1].History);
        Assert.Null(ranks[1].EvalReport);
        foreach (var (name, value) in one.EvalReport!.Metrics)
            AssertClose(value, ranks[0].EvalReport!.Metrics[name], $"eval {name}");

        var want = SafeTensors.Read(Path.Combine(_dir, "one", HfDirectory.WeightsFile));
        var got = SafeTensors.Read(Path.Combine(_dir, "two", HfDirectory.WeightsFile));
        Assert.Equal(want.Keys.Order(), got.Keys.Order());
        foreach (var (name, tensor) in want)
        {
            var other = got[name].Data;
            for (int i = 0; i < tensor.Length; i++)
                Assert.True(Math.Abs(tensor.Data[i] - other[i]) <= 1e-4f, $"{name}[{i}]: {tensor.Data[i]} vs {other[i]}");
        }
    }

    // The ranks add the same terms as one process, in another order: float rounding, nothing more.
    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-4 * Math.Max(1, Math.Abs(expected)), $"{what}: one process {expected}, two ranks {actual}");
}
