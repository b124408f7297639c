using System.CommandLine;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the BertSharp version, the runtime it runs on and the compute providers this machine offers.");
        command.SetAction(_ =>
        {
            var version = typeof(BertSharp.Model.BertConfig).Assembly.GetName().Version;
            Console.WriteLine($"bertsharp {version} on .NET {Environment.Version} ({System.Runtime.InteropServices.RuntimeInformation.OSDescription})");
            Console.WriteLine($"compute: {ComputeProviders.Describe(ComputeProvider.Managed)} (fp32), --bf16: {ComputeProviders.Describe(ComputeProvider.OneDnnBf16)}");
            return 0;
        });
        return command;
    }
}
