using System.CommandLine;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary>
/// <c>-o/--output FILE</c> for the commands whose result is printed: the same text goes to the file instead of stdout,
/// written atomically (a reader never sees half of it) and never over one of the command's inputs.
/// </summary>
internal static class OutputOption
{
    public static Option<string?> Create(string what) => new("--output", "-o") { Description = $"Write {what} to this file instead of stdout" };

    /// <summary>Prints <paramref name="text"/>, or writes it to <paramref name="path"/> after checking it is not an input.</summary>
    public static void Write(string? path, string text, string model, params string?[] inputs)
    {
        if (path is null)
        {
            Console.Write(text);
            return;
        }
        OutputGuard.RefuseInputs(path, "--output", model, inputs);
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory) Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(path, text);
    }
}
