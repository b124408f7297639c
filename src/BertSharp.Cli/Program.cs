using System.CommandLine;
using BertSharp.Cli;
using BertSharp.Cli.Commands;
using BertSharp.Distributed;

// mpirun connects the ranks' output through a pseudo-terminal, so .NET would take it for one and
// write terminal set-up codes into what is often redirected to a file; a rank's output is never a
// terminal's. This must come before the first use of the console.
if (MpiEnvironment.Current is not null) Environment.SetEnvironmentVariable("TERM", "dumb");

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
    DistributedCheckCommand.Create(),
})
{
    root.Subcommands.Add(command);
}

return CliErrors.Invoke(root, args);
