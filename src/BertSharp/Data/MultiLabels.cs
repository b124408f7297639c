using System.Text.Json;
using BertSharp.IO;

namespace BertSharp.Data;

/// <summary>
/// How a multi-label example names its labels in one column: a JSON list (<c>["PER", "LOC"]</c>) or names
/// joined by a separator (<c>PER|LOC</c>); an empty value is the empty set.
/// </summary>
public static class MultiLabels
{
    /// <summary>The separator used unless another is given.</summary>
    public const string DefaultSeparator = "|";

    /// <summary>The label names in <paramref name="value"/>, trimmed, without empties or repeats.</summary>
    /// <exception cref="InvalidDataException">A JSON list is malformed or holds something other than strings.</exception>
    public static string[] Parse(string value, string separator = DefaultSeparator)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentException.ThrowIfNullOrEmpty(separator);
        var trimmed = value.Trim();
        IEnumerable<string> names;
        if (trimmed.StartsWith('['))
        {
            try { names = JsonSerializer.Deserialize<string[]>(trimmed) ?? []; }
            catch (JsonException e) { throw new InvalidDataException($"'{Shown.Text(value)}' is not a JSON list of label names ({JsonErrors.Describe(e)})", e); }
        }
        else
        {
            names = trimmed.Split(separator);
        }
        return [.. names.Select(n => n.Trim()).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The label map of a multi-label training set: every name that occurs, in <see cref="LabelMap"/>'s order.</summary>
    /// <exception cref="InvalidDataException">No example has any label.</exception>
    public static LabelMap LabelMapOf(TextDataset train, string separator = DefaultSeparator)
    {
        ArgumentNullException.ThrowIfNull(train);
        var names = train.SelectMany(e => Parse(e.Label, separator)).ToList();
        if (names.Count == 0) throw new InvalidDataException($"{train.Source ?? "the training data"}: no example has a label");
        return LabelMap.FromLabels(names);
    }
}
