using System.CommandLine;
using System.Runtime.InteropServices;
using BertSharp.Tensors;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary>
/// The recipe options <c>train</c> and <c>pretrain</c> share (Hugging Face's <c>TrainingArguments</c> names), with
/// each command's own defaults, and the one place that turns them into <see cref="TrainingArguments"/>.
/// </summary>
internal sealed class RecipeOptions
{
    private readonly Option<int> _epochs, _batch, _evalBatch, _maxLength, _accumulation, _seed, _evalSteps, _loggingSteps;
    private readonly Option<float> _lr, _warmup, _weightDecay;
    private readonly Option<string> _evalStrategy;
    private readonly Option<int?> _saveSteps;
    private readonly Option<bool> _overwrite, _bf16;

    /// <param name="epochs">Default passes over the data.</param>
    /// <param name="learningRate">Default peak learning rate.</param>
    /// <param name="batchSize">Default examples per batch (per rank under mpirun).</param>
    /// <param name="warmupRatio">Default share of steps spent warming up.</param>
    /// <param name="examples">What one example is called in the help: "examples" or "sequences".</param>
    public RecipeOptions(int epochs, float learningRate, int batchSize, float warmupRatio, string examples)
    {
        _epochs = new("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => epochs };
        _lr = new("--learning-rate", "--lr") { Description = "Peak AdamW learning rate", DefaultValueFactory = _ => learningRate };
        _batch = new("--batch-size") { Description = $"{Capitalised(examples)} per training batch (per rank under mpirun)", DefaultValueFactory = _ => batchSize };
        _evalBatch = new("--eval-batch-size") { Description = $"{Capitalised(examples)} per evaluation batch", DefaultValueFactory = _ => 32 };
        _maxLength = new("--max-length") { Description = "Tokens per example, [CLS] and [SEP] included (up to the model's 512)", DefaultValueFactory = _ => 128 };
        _warmup = new("--warmup-ratio") { Description = "Share of steps spent warming the learning rate up", DefaultValueFactory = _ => warmupRatio };
        _weightDecay = new("--weight-decay") { Description = "AdamW decoupled weight decay (not on biases and LayerNorm)", DefaultValueFactory = _ => 0.01f };
        _accumulation = new("--gradient-accumulation-steps") { Description = "Batches per optimizer step", DefaultValueFactory = _ => 1 };
        _seed = new("--seed") { Description = "Seed for shuffles, splits, masking, dropout and new weights", DefaultValueFactory = _ => 42 };
        _evalStrategy = new("--eval-strategy") { Description = "epoch, steps or no", DefaultValueFactory = _ => "epoch" };
        _evalSteps = new("--eval-steps") { Description = "Evaluate every N steps with --eval-strategy steps", DefaultValueFactory = _ => 500 };
        _loggingSteps = new("--logging-steps") { Description = "Log the mean training loss every N optimizer steps", DefaultValueFactory = _ => 10 };
        _saveSteps = new("--save-steps") { Description = "Also checkpoint every N optimizer steps" };
        Resume = new("--resume") { Description = "Continue from the newest checkpoint in --output" };
        _overwrite = new("--overwrite-output-dir") { Description = "Replace a model or checkpoints already in --output (the old one stays until the new run finishes)" };
        _bf16 = ProviderOption.Create();
        Distributed = DistributedOption.Create();
    }

    /// <summary><c>--resume</c>, which the commands also read themselves.</summary>
    public Option<bool> Resume { get; }

    /// <summary><c>--distributed</c>, for <see cref="DistributedOption.Run"/>.</summary>
    public Option<string> Distributed { get; }

    private static string Capitalised(string word) => char.ToUpperInvariant(word[0]) + word[1..];

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { _epochs, _lr, _batch, _evalBatch, _maxLength, _warmup, _weightDecay, _accumulation, _seed,
            _evalStrategy, _evalSteps, _loggingSteps, _saveSteps, Resume, _overwrite, _bf16, Distributed })
        {
            command.Options.Add(o);
        }
    }

    /// <summary>The shared part of the recipe; a command adds its own with <c>with { … }</c> and validates.</summary>
    public TrainingArguments Read(ParseResult parse) => new()
    {
        NumTrainEpochs = parse.GetValue(_epochs),
        LearningRate = parse.GetValue(_lr),
        TrainBatchSize = parse.GetValue(_batch),
        EvalBatchSize = parse.GetValue(_evalBatch),
        WeightDecay = parse.GetValue(_weightDecay),
        WarmupRatio = parse.GetValue(_warmup),
        MaxLength = parse.GetValue(_maxLength),
        GradientAccumulationSteps = parse.GetValue(_accumulation),
        Seed = parse.GetValue(_seed),
        EvalStrategy = parse.GetValue(_evalStrategy) switch
        {
            "steps" => IntervalStrategy.Steps,
            "no" => IntervalStrategy.No,
            "epoch" => IntervalStrategy.Epoch,
            var other => throw new ArgumentException($"--eval-strategy '{other}': expected epoch, steps or no"),
        },
        EvalSteps = parse.GetValue(_evalSteps),
        SaveSteps = parse.GetValue(_saveSteps),
        LoggingSteps = parse.GetValue(_loggingSteps),
        OverwriteOutputDir = parse.GetValue(_overwrite),
        Bf16 = ProviderOption.Resolve(parse.GetValue(_bf16)) == ComputeProvider.OneDnnBf16,
    };

    /// <summary>Whether the user set <c>--max-length</c> (question answering then keeps it over its own default).</summary>
    public bool MaxLengthGiven(ParseResult parse) => parse.GetResult(_maxLength) is { Implicit: false };
}

/// <summary>
/// Ctrl-C (SIGINT) and a polite stop (SIGTERM: systemd, Kubernetes, <c>timeout</c>) as a cancellation: training
/// saves a checkpoint at the next optimizer step and exits 130 instead of dying mid-step.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration _interrupt, _terminate;

    /// <param name="announce">Whether this process says so on stderr (rank 0 alone under mpirun).</param>
    public StopSignals(bool announce)
    {
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (_cancel.IsCancellationRequested) return;
            _cancel.Cancel();
            if (announce) LiveConsole.WriteLine(Console.Error, "bertsharp: interrupted; saving a checkpoint at the next step (run again with --resume to continue)");
        }
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _cancel.Token;

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _cancel.Dispose();
    }
}
