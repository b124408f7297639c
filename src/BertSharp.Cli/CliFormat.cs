using System.Globalization;

namespace BertSharp.Cli;

/// <summary>How the CLI prints numbers people compare with Python's output.</summary>
internal static class CliFormat
{
    /// <summary>A learning rate as Python and Hugging Face's logs print it: <c>2e-05</c>, <c>1.44e-05</c>.</summary>
    public static string LearningRate(double? lr) => lr?.ToString("0.##e-00", CultureInfo.InvariantCulture) ?? "-";
}
