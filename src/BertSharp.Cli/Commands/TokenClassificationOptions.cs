using System.CommandLine;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary>The options and setup of <c>bertsharp train --task token-classification</c> (named-entity recognition).</summary>
internal sealed class TokenClassificationOptions
{
    public Option<bool> LabelAllTokens { get; } = new("--label-all-tokens") { Description = "token-classification: train on every piece of a word, not only its first" };
    public Option<int?> Stride { get; } = new("--stride")
    {
        Description = "token-classification: pieces shared by the overlapping windows of a sentence longer than --max-length (default 32, at most half a window)",
    };
    public Option<EntityMode> Mode { get; } = new("--entity-mode")
    {
        Description = "token-classification: how evaluation reads entities, as seqeval: Default (conlleval) or Strict (IOB2)",
        DefaultValueFactory = _ => EntityMode.Default,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(LabelAllTokens);
        command.Options.Add(Stride);
        command.Options.Add(Mode);
    }

    /// <summary>Loads tagged sentences (CoNLL or JSON Lines), takes the tag list from the training data, and builds the trainer.</summary>
    public (Trainer, ITaskDataset, ITaskDataset?) Setup(ParseResult parse, TrainCommand.TaskSetup s)
    {
        int? column = TokenClassificationTask.TagColumn(s.Data, s.DataOptions.LabelColumn);
        var train = TokenDataset.Load(s.Data, column);
        if (s.Select is int n)
        {
            if (n <= 0) throw new ArgumentException($"--select {n}: must be ≥ 1");
            train = train.Select(n, s.Args.Seed);
        }
        TokenDataset? validation = s.Eval is null ? null : TokenDataset.Load(s.Eval, column);
        if (validation is null && s.ValidationSplit > 0)
        {
            if (s.ValidationSplit >= 1) throw new ArgumentException($"--validation-split {s.ValidationSplit}: must be in [0, 1)");
            var shuffled = train.Select(train.Count, s.Args.Seed);
            int held = Math.Max(1, (int)Math.Round(train.Count * s.ValidationSplit));
            validation = new TokenDataset(shuffled.Sentences.Take(held), train.Source);
            train = new TokenDataset(shuffled.Sentences.Skip(held), train.Source);
        }
        var tags = LabelMap.FromLabels(train.TagSet());
        s.Log.WriteLine($"train: {train.Count} sentences, {train.Sentences.Sum(x => x.Words.Count)} words from {train.Source}");
        if (validation is not null) s.Log.WriteLine($"eval: {validation.Count} sentences from {validation.Source}");
        s.Log.WriteLine($"token_classification, tags: {tags}");
        var trainer = TokenClassificationTrainer.Create(s.Model, tags, s.Args, parse.GetValue(LabelAllTokens), parse.GetValue(Stride), parse.GetValue(Mode));
        return (trainer, train, validation);
    }
}
