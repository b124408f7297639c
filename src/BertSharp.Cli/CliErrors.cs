using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using BertSharp.IO;
using BertSharp.Training;

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
        if (MistypedOption(parse) is { } typo)
        {
            Console.Error.WriteLine($"bertsharp: {typo}");
            Console.Error.WriteLine($"Run 'bertsharp {parse.CommandResult.Command.Name} --help' for usage.");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"bertsharp: error: {Message(e)}");
            return 1;
        }
    }

    /// <summary>
    /// A positional argument that looks like an option (<c>--top_k</c>, <c>--outptu</c>): commands that
    /// take texts would otherwise classify it as text and exit 0. After <c>--</c> anything is text.
    /// </summary>
    private static string? MistypedOption(ParseResult parse)
    {
        var afterDoubleDash = new HashSet<Token>(ReferenceEqualityComparer.Instance);
        bool seen = false;
        foreach (var token in parse.Tokens)
        {
            if (seen) afterDoubleDash.Add(token);
            else seen = token.Type == TokenType.DoubleDash;
        }
        var command = parse.CommandResult;
        foreach (var argument in command.Children.OfType<ArgumentResult>())
        {
            foreach (var token in argument.Tokens)
            {
                if (afterDoubleDash.Contains(token) || !LooksLikeOption(token.Value)) continue;
                var name = token.Value.Split('=')[0];
                var hint = Closest(name, command.Command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)));
                return $"unknown option '{name}'{(hint is null ? "" : $" (did you mean '{hint}'?)")}; to pass text that starts with '-', put '--' before it";
            }
        }
        return null;
    }

    private static bool LooksLikeOption(string value)
    {
        int dashes = value.StartsWith("--", StringComparison.Ordinal) ? 2 : value.StartsWith('-') ? 1 : 0;
        if (dashes == 0 || value.Length == dashes || !char.IsAsciiLetter(value[dashes])) return false;
        var name = value.AsSpan(dashes).ToString().Split('=')[0];
        return name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
    }

    // The option name nearest in edit distance, '_' read as '-'; null when none is close.
    private static string? Closest(string given, IEnumerable<string> names)
    {
        var normal = given.Replace('_', '-').ToLowerInvariant();
        var best = names.Where(n => n.StartsWith("--", StringComparison.Ordinal))
            .Select(n => (Name: n, Distance: EditDistance(normal, n)))
            .OrderBy(c => c.Distance).FirstOrDefault();
        return best.Name is not null && best.Distance <= Math.Max(2, best.Name.Length / 3) ? best.Name : null;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    // One line in the user's terms: ArgumentException appends " (Parameter 'topK')" and ArgumentOutOfRangeException a
    // line "Actual value was 0.", the library's names rather than the command's options.
    private static string Message(Exception e) => e switch
    {
        JsonException json => JsonErrors.Describe(json),
        ArgumentException { ParamName: { } name } argument => argument.Message.Split('\n')[0].Replace($" (Parameter '{name}')", "", StringComparison.Ordinal),
        _ => e.Message,
    };

    // A diverging run or a failing evaluation is the settings' or the data's doing, and its message says what to change.
    private static bool IsUserError(Exception e) => e is IOException or InvalidDataException or ArgumentException
        or FormatException or UnauthorizedAccessException or NotSupportedException or JsonException
        or KeyNotFoundException or InvalidOperationException or TrainingDivergedException or EvaluationFailedException;
}
