using System.Text.Json;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Tensors;

namespace BertSharp.Training;

/// <summary>
/// Checkpoints as HF-style directories (<c>checkpoint-{step}/</c>: the model, <c>optimizer.safetensors</c>
/// with AdamW's moments, <c>trainer_state.json</c>). Each is written into a temporary directory and
/// renamed into place, so a run killed mid-save leaves either the whole checkpoint or none of it.
/// </summary>
internal static class Checkpoint
{
    public const string Prefix = "checkpoint-";
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.safetensors";

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string Save(string outputDir, BertPreTrainedModel model, AdamW optimizer,
        TrainerState state, TrainingArguments args, Func<Stream> openVocab, bool doLowerCase)
    {
        var final = Path.Combine(outputDir, Prefix + state.GlobalStep);
        var temp = Path.Combine(outputDir, $".{Prefix}{state.GlobalStep}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);

        HfDirectory.Save(temp, model.Config, model.ToStateDict(), openVocab, doLowerCase, args.MaxLength);
        var moments = new Dictionary<string, FloatTensor>(StringComparer.Ordinal);
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var p = optimizer.Parameters[i];
            var (m, v) = optimizer.Moments(i);
            moments[p.Name + ".exp_avg"] = new FloatTensor(p.Value.Shape, m);
            moments[p.Name + ".exp_avg_sq"] = new FloatTensor(p.Value.Shape, v);
        }
        SafeTensors.Write(Path.Combine(temp, OptimizerFile), moments,
            new Dictionary<string, string> { ["step"] = optimizer.StepCount.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        AtomicFile.WriteAllText(Path.Combine(temp, "training_args.json"), JsonSerializer.Serialize(args, Json));
        // The state goes last: a directory holding trainer_state.json is complete.
        AtomicFile.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state, Json));

        if (Directory.Exists(final)) DeleteWhole(final);
        Directory.Move(temp, final);
        return final;
    }

    /// <summary>The newest complete checkpoint in a run's output directory, or null.</summary>
    public static string? Latest(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return null;
        return Directory.EnumerateDirectories(outputDir, Prefix + "*")
            .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d).AsSpan(Prefix.Length), out int s) ? s : -1))
            .Where(c => c.Step >= 0 && File.Exists(Path.Combine(c.Dir, StateFile)))
            .OrderByDescending(c => c.Step)
            .Select(c => c.Dir)
            .FirstOrDefault();
    }

    /// <summary>Removes what a killed save left behind.</summary>
    public static void RemoveIncomplete(string outputDir)
    {
        if (!Directory.Exists(outputDir)) return;
        foreach (var d in Directory.EnumerateDirectories(outputDir, "." + Prefix + "*.tmp-*"))
            Directory.Delete(d, recursive: true);
    }

    public static TrainerState Restore(string checkpointDir, BertPreTrainedModel model, AdamW optimizer)
    {
        var statePath = Path.Combine(checkpointDir, StateFile);
        var state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath), Json)
            ?? throw new InvalidDataException($"{statePath}: empty trainer state");

        var saved = HfDirectory.ReadWeights(checkpointDir);
        foreach (var (name, target) in model.ToStateDict()) saved.Get(name, target.Shape).Data.CopyTo(target.Data, 0);

        var moments = SafeTensors.Read(Path.Combine(checkpointDir, OptimizerFile));
        for (int i = 0; i < optimizer.Parameters.Count; i++)
        {
            var p = optimizer.Parameters[i];
            var (m, v) = optimizer.Moments(i);
            moments.Get(p.Name + ".exp_avg", p.Value.Shape).Data.CopyTo(m, 0);
            moments.Get(p.Name + ".exp_avg_sq", p.Value.Shape).Data.CopyTo(v, 0);
        }
        optimizer.StepCount = state.OptimizerStepCount;
        model.DropoutStream.Position = state.DropoutPosition;
        return state;
    }

    /// <summary>Deletes checkpoints other than the newest and the best, as save_total_limit=2 would.</summary>
    public static void Prune(string outputDir, string keepLatest, string? keepBest)
    {
        foreach (var d in Directory.EnumerateDirectories(outputDir, Prefix + "*"))
        {
            var full = Path.GetFullPath(d);
            if (full == Path.GetFullPath(keepLatest) || (keepBest is not null && full == Path.GetFullPath(keepBest))) continue;
            DeleteWhole(d);
        }
    }

    // A recursive delete is file by file: a run killed halfway would leave checkpoint-N without some of its files.
    // Renamed first into the temporary pattern RemoveIncomplete cleans, a checkpoint under its final name is always whole.
    private static void DeleteWhole(string checkpoint)
    {
        var doomed = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, $".{Path.GetFileName(checkpoint)}.tmp-delete-{Environment.ProcessId}");
        if (Directory.Exists(doomed)) Directory.Delete(doomed, recursive: true);
        Directory.Move(checkpoint, doomed);
        Directory.Delete(doomed, recursive: true);
    }
}
