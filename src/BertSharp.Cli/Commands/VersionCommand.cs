using System.CommandLine;
using System.Reflection;

namespace BertSharp.Cli.Commands;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the BertSharp version and the runtime it runs on.");
        command.SetAction(_ =>
        {
            var version = typeof(BertSharp.Model.BertConfig).Assembly.GetName().Version;
            Console.WriteLine($"bertsharp {version} on .NET {Environment.Version} ({System.Runtime.InteropServices.RuntimeInformation.OSDescription})");
            return 0;
        });
        return command;
    }
}
