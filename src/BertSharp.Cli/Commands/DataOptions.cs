using System.CommandLine;
using BertSharp.Data;

namespace BertSharp.Cli.Commands;

/// <summary>The options that say how to read a labelled data file, shared by train and eval.</summary>
internal sealed class DataOptions
{
    public Option<string?> TextColumn { get; } = new("--text-column") { Description = "Column holding the text (default: text or sentence)" };
    public Option<string?> TextPairColumn { get; } = new("--text-pair-column") { Description = "Column holding the second text of a pair" };
    public Option<string?> LabelColumn { get; } = new("--label-column") { Description = "Column holding the label (default: label)" };
    public Option<DatasetFormat> Format { get; } = new("--format")
    {
        Description = "Data format; by default from the extension (.csv, .tsv, .jsonl, .parquet, .label) or an IMDB folder",
        DefaultValueFactory = _ => DatasetFormat.Auto,
    };
    public Option<bool> SkipEmptyRows { get; } = new("--skip-empty-rows") { Description = "Skip rows with empty text (counted) instead of failing" };

    public void AddTo(Command command)
    {
        command.Options.Add(TextColumn);
        command.Options.Add(TextPairColumn);
        command.Options.Add(LabelColumn);
        command.Options.Add(Format);
        command.Options.Add(SkipEmptyRows);
    }

    public DatasetLoadOptions Read(ParseResult parse) => new()
    {
        Format = parse.GetValue(Format),
        TextColumn = parse.GetValue(TextColumn),
        TextPairColumn = parse.GetValue(TextPairColumn),
        LabelColumn = parse.GetValue(LabelColumn),
        SkipEmptyRows = parse.GetValue(SkipEmptyRows),
    };
}
