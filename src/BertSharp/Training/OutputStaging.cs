using BertSharp.IO;

namespace BertSharp.Training;

/// <summary>
/// Where a run writes. A run that replaces a model (<c>overwrite_output_dir</c> over a directory that holds one or
/// checkpoints) trains beside it, in <c>OUT.overwrite-new</c>, and only a run that finishes swaps it in: OUT goes to
/// <c>OUT.overwrite-old</c>, <c>OUT.overwrite-new</c> becomes OUT, anything in the old directory that no run wrote
/// moves back, and the old run's files are deleted. Killed at any point, the disk holds the old model or the new one
/// whole; the next run into OUT first finishes (or, with the new one gone, undoes) a swap it finds half done, and
/// <c>--resume</c> continues a killed replacement where it trains.
/// </summary>
internal sealed class OutputStaging
{
    private const string NewSuffix = ".overwrite-new", OldSuffix = ".overwrite-old";

    // What a training run writes in its output directory besides checkpoints; files a new run does not write again
    // (an evaluation report when it has no evaluation data) must not outlive the model they were about.
    private static readonly string[] RunFiles =
    [
        HfDirectory.ConfigFile, HfDirectory.WeightsFile, "train_log.jsonl", "eval_report.json", "eval_report.txt",
        ITrainingPlots.LossFile, ITrainingPlots.MetricsFile,
    ];

    private readonly string? _output;

    private OutputStaging(string trainingDirectory, string? replaces)
    {
        TrainingDirectory = trainingDirectory;
        _output = replaces;
    }

    /// <summary>Where this run writes checkpoints, logs and the model: the output directory, or its staging sibling.</summary>
    public string TrainingDirectory { get; }

    /// <summary>
    /// Makes the output directory ready for a run, after finishing a swap a killed run left half done: refuses to
    /// train over a model without <paramref name="overwrite"/>, and with it stages the run beside the old model.
    /// </summary>
    public static OutputStaging Open(string outputDirectory, bool resume, bool overwrite)
    {
        var output = Path.GetFullPath(outputDirectory);
        // A link stays: the swap happens where the directory really is.
        if (Directory.Exists(output) && new DirectoryInfo(output).ResolveLinkTarget(returnFinalTarget: true) is { } target) output = target.FullName;
        var staging = output + NewSuffix;
        Recover(output);

        bool occupied = Directory.Exists(output) &&
            (File.Exists(Path.Combine(output, HfDirectory.ConfigFile)) || Checkpoint.Latest(output) is not null);
        if (resume && Directory.Exists(staging))
        {
            // The run being resumed was a replacement: it carries on beside the old model.
            Checkpoint.RemoveIncomplete(staging);
            AtomicFile.RemoveStale(staging);
            return new OutputStaging(staging, output);
        }
        if (!resume && occupied && !overwrite)
        {
            throw new IOException($"{outputDirectory} already holds a model or checkpoints; choose another --output, pass --overwrite-output-dir, or --resume to continue that run" +
                (Directory.Exists(staging) ? $" ({staging} holds an unfinished --overwrite-output-dir run; --resume continues it)" : ""));
        }
        // A replacement killed earlier and not resumed now is abandoned.
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        if (!resume && occupied)
        {
            if (Path.GetDirectoryName(output) is null) throw new IOException($"{outputDirectory}: cannot replace a model in the file system's root; choose another --output");
            Directory.CreateDirectory(staging);
            return new OutputStaging(staging, output);
        }
        Directory.CreateDirectory(outputDirectory);
        Checkpoint.RemoveIncomplete(outputDirectory);
        return new OutputStaging(outputDirectory, replaces: null);
    }

    /// <summary>Puts a finished replacement in place of the old model; nothing to do for a run that trained in place.</summary>
    public void Commit()
    {
        if (_output is null) return;
        // From the first rename on, the new model is whole: Recover finishes the swap from any point of it.
        if (Directory.Exists(_output)) Directory.Move(_output, _output + OldSuffix);
        Directory.Move(TrainingDirectory, _output);
        FinishSwap(_output);
    }

    private static void Recover(string output)
    {
        var old = output + OldSuffix;
        if (!Directory.Exists(old)) return;
        if (!Directory.Exists(output))
        {
            // Killed between the two renames: the new model is whole beside, unless someone removed it.
            var staging = output + NewSuffix;
            Directory.Move(Directory.Exists(staging) ? staging : old, output);
            if (!Directory.Exists(old)) return;
        }
        FinishSwap(output);
    }

    // The old directory's other files (the user's, not a run's) move back; then the old run goes.
    private static void FinishSwap(string output)
    {
        var old = output + OldSuffix;
        foreach (var entry in Directory.EnumerateFileSystemEntries(old))
        {
            var name = Path.GetFileName(entry);
            var destination = Path.Combine(output, name);
            bool checkpoint = name.StartsWith(Checkpoint.Prefix, StringComparison.Ordinal) || name.StartsWith("." + Checkpoint.Prefix, StringComparison.Ordinal);
            if (checkpoint || RunFiles.Contains(name) || Path.Exists(destination)) continue;
            if (Directory.Exists(entry)) Directory.Move(entry, destination);
            else File.Move(entry, destination);
        }
        Directory.Delete(old, recursive: true);
    }
}
