using Spectre.Console;

namespace BertSharp.Cli;

/// <summary>
/// Lines printed while the training progress bar is on screen. Spectre.Console redraws a live display in place,
/// so a line written straight to the console lands where the bar's cursor is and the next refresh overwrites it
/// (under tmux the evaluation lines were left as their last few words); written through AnsiConsole, the line goes
/// above the bar and stays.
/// </summary>
internal static class LiveConsole
{
    private static volatile bool s_active;

    /// <summary>Runs <paramref name="display"/> (one that shows a live display) with lines routed above it.</summary>
    public static void Run(Action display)
    {
        s_active = true;
        try { display(); }
        finally { s_active = false; }
    }

    /// <summary>Writes a line above the live display when one is showing, else to <paramref name="fallback"/>.</summary>
    public static void WriteLine(TextWriter fallback, string line)
    {
        if (s_active) AnsiConsole.WriteLine(line);
        else fallback.WriteLine(line);
    }
}
