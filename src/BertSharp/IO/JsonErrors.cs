using System.Text.Json;

namespace BertSharp.IO;

/// <summary>A JSON parse error's message, short enough for one line of an error.</summary>
internal static class JsonErrors
{
    // System.Text.Json quotes the token it stopped at, and a bad literal runs to the end of the input: a 200 KB text
    // file given as a config came back whole in the error, and a 200 KB request body twice in the 400.
    private const int KeptToken = 40, MaxMessage = 500;

    /// <summary>e's message with a quoted token over 40 characters cut to its start and its length, and at most 500 characters.</summary>
    public static string Describe(JsonException e)
    {
        string message = e.Message;
        int end = message.StartsWith('\'') ? message.IndexOf("' is ", 1, StringComparison.Ordinal) : -1;
        if (end > KeptToken + 1)
            message = $"'{message[1..(KeptToken + 1)]}…' ({end - 1:N0} characters){message[(end + 1)..]}";
        return message.Length <= MaxMessage ? message : message[..MaxMessage] + "…";
    }
}
