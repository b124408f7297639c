using System.CommandLine;
using System.Text.Json;

namespace BertSharp.Cli;

/// <summary>
/// Runs the parsed command and turns the errors a user can fix (bad file, bad value) into one line
/// on stderr and exit code 1; usage errors stay with System.CommandLine (exit code 2).
/// </summary>
internal static class CliErrors
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"bertsharp: {e.Message}");
            Console.Error.WriteLine("Run 'bertsharp --help' for usage.");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"bertsharp: error: {e.Message}");
            return 1;
        }
    }

    private static bool IsUserError(Exception e) => e is IOException or InvalidDataException or ArgumentException
        or FormatException or UnauthorizedAccessException or NotSupportedException or JsonException
        or KeyNotFoundException or InvalidOperationException;
}
