using System.CommandLine;
using BertSharp.Cli;
using BertSharp.Cli.Commands;

var root = new RootCommand("BertSharp: tokenize, fine-tune, evaluate and serve BERT models in .NET.");
// Each command lives in its own file under Commands/ and is listed here once.
foreach (var command in new[]
{
    VersionCommand.Create(),
    InfoCommand.Create(),
    TokenizeCommand.Create(),
    TrainCommand.Create(),
    PretrainCommand.Create(),
    FillMaskCommand.Create(),
    BiasProbeCommand.Create(),
    EvalCommand.Create(),
    PredictCommand.Create(),
    ExportOnnxCommand.Create(),
    BenchCommand.Create(),
    EmbedCommand.Create(),
    SimilarityCommand.Create(),
    ServeCommand.Create(),
})
{
    root.Subcommands.Add(command);
}

return CliErrors.Invoke(root, args);
