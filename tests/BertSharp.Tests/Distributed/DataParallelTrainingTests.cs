using BertSharp.Data;
using BertSharp.Distributed;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
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

    [Fact]
    public void Two_ranks_stopped_by_rank_0_and_resumed_continue_as_one_uninterrupted_process()
    {
        var train = TrainerTests.Polarity("train.csv", 48);
        TrainingArguments Args(int batch) => new() { NumTrainEpochs = 2, TrainBatchSize = batch, LearningRate = 1e-3f, MaxLength = 32, LoggingSteps = 1, Seed = 5 };
        var one = TrainerTests.TinyTrainer(Args(8)).Train(train, eval: null, Path.Combine(_dir, "one"));

        var output = Path.Combine(_dir, "two");
        var stopped = InProcessGroup.Run(2, communicator =>
        {
            // Only rank 0 is told to stop (as when a signal reaches one process first); the other must follow, not hang.
            using var stop = new CancellationTokenSource();
            var trainer = TrainerTests.TinyTrainer(Args(4));
            trainer.Communicator = communicator;
            if (communicator.IsRoot) trainer.Progress += p => { if (p.Step == 4) stop.Cancel(); };
            return trainer.Train(train, eval: null, output, cancellation: stop.Token);
        });
        Assert.All(stopped, r => Assert.True(r.Interrupted));
        Assert.All(stopped, r => Assert.Equal(4, r.GlobalStep));

        // Resumed from the checkpoint rank 0 wrote; rank 1 gets weights, moments, step and dropout position from it.
        var resumed = InProcessGroup.Run(2, communicator =>
        {
            var trainer = TrainerTests.TinyTrainer(Args(4));
            trainer.Communicator = communicator;
            return trainer.Train(train, eval: null, output, resume: true);
        });
        Assert.All(resumed, r => Assert.Equal(one.GlobalStep, r.GlobalStep));
        var expected = one.History.Where(e => e.Kind == "train").ToList();
        var actual = resumed[0].History.Where(e => e.Kind == "train").ToList();
        Assert.Equal(expected.Select(e => e.Step), actual.Select(e => e.Step));
        for (int i = 0; i < expected.Count; i++)
            AssertClose(expected[i].Loss!.Value, actual[i].Loss!.Value, $"loss at step {expected[i].Step}");
    }

    [Theory]
    [InlineData(false)] // a masked-LM loss is a mean over masked tokens, which slices hold unevenly
    [InlineData(true)]  // with next-sentence prediction: two means, one over tokens and one over rows, each weighed by its own share
    public void Masked_lm_ranks_weigh_their_slices_by_masked_tokens(bool nextSentence)
    {
        var tokenizer = BertTokenizer.FromBuiltIn();
        var corpus = new TextCorpus(Enumerable.Range(0, 14).Select(d => (IReadOnlyList<string>)Enumerable.Range(0, 5)
            .Select(s => $"document {d} sentence {s} is {new string('x', 1 + (d * 7 + s) % 5)} about the film .").ToList()));
        var config = new BertConfig { VocabSize = 30522, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 64 };
        TrainResult Run(int batch, ICommunicator? communicator, string output)
        {
            var args = new TrainingArguments { NumTrainEpochs = 2, TrainBatchSize = batch, LearningRate = 1e-3f, MaxLength = 24, LoggingSteps = 1, Seed = 3 };
            BertPreTrainedModel model = nextSentence ? BertForPreTraining.CreateRandom(config, seed: 3) : BertForMaskedLM.CreateRandom(config, seed: 3);
            var task = new PretrainingTask(tokenizer, config.VocabSize, nextSentence, wholeWord: false, 0.15, seed: 3);
            var trainer = new Trainer(model, task, tokenizer, args, () => BuiltInModels.OpenVocab("minilm-l6"), doLowerCase: true);
            if (communicator is not null) trainer.Communicator = communicator;
            return trainer.Train(corpus, eval: null, Path.Combine(_dir, output));
        }
        var one = Run(8, null, "one");
        var ranks = InProcessGroup.Run(2, c => Run(4, c, "two"));

        var expected = one.History.Where(e => e.Kind == "train").Select(e => e.Loss!.Value).ToList();
        var actual = ranks[0].History.Where(e => e.Kind == "train").Select(e => e.Loss!.Value).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++) AssertClose(expected[i], actual[i], $"loss at step {i + 1}");
    }

    // The ranks add the same terms as one process, in another order: float rounding, nothing more.
    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-4 * Math.Max(1, Math.Abs(expected)), $"{what}: one process {expected}, two ranks {actual}");
}
