using System.CommandLine;
using BertSharp.QuestionAnswering;
using BertSharp.Training;

namespace BertSharp.Cli.Commands;

/// <summary>run_qa.py's window and post-processing options, for train --task question-answering, eval and predict.</summary>
internal sealed class QuestionAnsweringOptions
{
    private static readonly QaOptions Defaults = new();

    public Option<int> DocStride { get; } = new("--doc-stride") { Description = "question-answering: context tokens shared by consecutive windows", DefaultValueFactory = _ => Defaults.DocStride };
    public Option<int> MaxQuestionLength { get; } = new("--max-question-length") { Description = "question-answering: longer questions are cut to this many tokens", DefaultValueFactory = _ => Defaults.MaxQuestionLength };
    public Option<int> NBest { get; } = new("--n-best") { Description = "question-answering: start and end candidates per window", DefaultValueFactory = _ => Defaults.NBest };
    public Option<int> MaxAnswerLength { get; } = new("--max-answer-length") { Description = "question-answering: longest answer in tokens", DefaultValueFactory = _ => Defaults.MaxAnswerLength };

    public void AddTo(Command command)
    {
        command.Options.Add(DocStride);
        command.Options.Add(MaxQuestionLength);
        command.Options.Add(NBest);
        command.Options.Add(MaxAnswerLength);
    }

    /// <summary>The options as given; the caller validates them once the window length is known.</summary>
    public QaOptions Read(ParseResult parse, int maxLength)
    {
        var options = new QaOptions
        {
            MaxLength = maxLength,
            DocStride = parse.GetValue(DocStride),
            MaxQuestionLength = parse.GetValue(MaxQuestionLength),
            NBest = parse.GetValue(NBest),
            MaxAnswerLength = parse.GetValue(MaxAnswerLength),
        };
        return options;
    }

    /// <summary>
    /// Question answering on SQuAD JSON or JSON Lines; without --eval a seeded share of the ARTICLES is held out, so
    /// no context is seen in training and evaluation both. --max-length is run_qa.py's 384 unless given.
    /// </summary>
    internal static (Trainer, Data.ITaskDataset, Data.ITaskDataset?) Setup(TrainCommand.TaskSetup s, QaOptions options, bool maxLengthGiven)
    {
        if (s.Select is not null) throw new ArgumentException("--select: question-answering data are split by article; pass a smaller file instead");
        var args = maxLengthGiven ? s.Args : s.Args with { MaxLength = 384 };
        options = options with { MaxLength = args.MaxLength };
        options.Validate();
        var data = SquadDataset.Load(s.Data);
        SquadDataset train = data;
        SquadDataset? validation = null;
        if (s.Eval is not null) validation = SquadDataset.Load(s.Eval);
        else if (s.ValidationSplit > 0) (train, validation) = data.SplitByArticle(s.ValidationSplit, args.Seed);
        s.Log.WriteLine($"train: {train.Count} questions over {train.Titles.Count} articles from {train.Source}");
        if (validation is not null) s.Log.WriteLine($"eval: {validation.Count} questions over {validation.Titles.Count} articles from {validation.Source}");
        s.Log.WriteLine($"windows of {options.MaxLength} tokens, doc stride {options.DocStride}, questions up to {options.MaxQuestionLength} tokens");
        return (QuestionAnsweringTrainer.Create(s.Model, args, options), train, validation);
    }
}
