namespace BertSharp.Data;

/// <summary>
/// Values from a user's file as an error shows them: bounded whatever the file holds (a 100,000-character label made a
/// one-line error of 100,095 characters, and a model of 300 classes listed them all).
/// </summary>
internal static class Shown
{
    private const int MaxChars = 40, MaxItems = 20;

    /// <summary>The value, or its first 40 characters and its length.</summary>
    public static string Text(string value) => value.Length <= MaxChars ? value : $"{value[..MaxChars]}… ({value.Length:N0} characters)";

    /// <summary>The values joined by commas, the first 20 of more and their count.</summary>
    public static string List(IReadOnlyList<string> values) => values.Count <= MaxItems
        ? string.Join(", ", values.Select(Text))
        : $"{string.Join(", ", values.Take(MaxItems).Select(Text))}, … ({values.Count:N0} in all)";
}
