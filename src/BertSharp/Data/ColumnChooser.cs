namespace BertSharp.Data;

/// <summary>Finds the text, text-pair and label columns among a file's column names.</summary>
internal static class ColumnChooser
{
    public static readonly string[] TextDefaults = ["text", "sentence"];
    public const string LabelDefault = "label";

    /// <summary>
    /// The index of the wanted column (exact name first, then ignoring case), or of the first default
    /// present when none is asked for; -1 for an optional column not asked for.
    /// </summary>
    /// <exception cref="InvalidDataException">The column is not there; the message lists those that are.</exception>
    public static int Find(IReadOnlyList<string> columns, string? wanted, string[] defaults, string role, string source)
    {
        foreach (string name in wanted is null ? defaults : [wanted])
        {
            int i = IndexOf(columns, name, StringComparison.Ordinal);
            if (i < 0) i = IndexOf(columns, name, StringComparison.OrdinalIgnoreCase);
            if (i < 0) continue;
            // Two columns of the name: the first was taken without a word (text,label,label).
            var same = Enumerable.Range(0, columns.Count).Where(j => string.Equals(columns[j].Trim(), columns[i].Trim(), StringComparison.OrdinalIgnoreCase)).ToList();
            if (same.Count > 1)
                throw new InvalidDataException($"{source}: columns {string.Join(", ", same.SkipLast(1).Select(j => j + 1))} and {same[^1] + 1} are {(same.Count == 2 ? "both" : "all")} named '{columns[i].Trim()}'; rename all but one");
            return i;
        }
        if (defaults.Length == 0 && wanted is null)
            return -1;
        string asked = wanted is null ? string.Join(" or ", defaults.Select(d => $"'{d}'")) : $"'{wanted}'";
        throw new InvalidDataException(
            $"{source}: no {role} column {asked}; the columns are {string.Join(", ", columns.Select(c => $"'{c}'"))} (choose one with the {role}-column option)");
    }

    private static int IndexOf(IReadOnlyList<string> columns, string name, StringComparison comparison)
    {
        for (int i = 0; i < columns.Count; i++)
        {
            if (string.Equals(columns[i].Trim(), name, comparison))
                return i;
        }
        return -1;
    }
}
