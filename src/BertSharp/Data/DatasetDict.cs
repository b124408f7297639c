using System.Collections;
using System.Text;

namespace BertSharp.Data;

/// <summary>
/// Named splits ("train", "validation", "test") as Hugging Face's <c>DatasetDict</c>, in insertion order.
/// </summary>
public sealed class DatasetDict : IEnumerable<KeyValuePair<string, TextDataset>>
{
    private readonly List<KeyValuePair<string, TextDataset>> _splits = [];

    /// <summary>
    /// Reads the splits under <paramref name="path"/>: a folder whose subfolders are splits (IMDB's
    /// <c>train/</c> and <c>test/</c>, each with <c>pos/</c> and <c>neg/</c>; subfolders without them,
    /// such as a top-level <c>unsup/</c>, are left out), or a single file or IMDB folder as "train".
    /// </summary>
    /// <param name="path">The root folder or a single file.</param>
    /// <param name="options">Format and column names; <see langword="null"/> for the defaults.</param>
    public static DatasetDict Load(string path, DatasetLoadOptions? options = null)
    {
        options ??= DatasetLoadOptions.Default;
        var dict = new DatasetDict();
        if (Directory.Exists(path) && !ImdbFolderReader.IsSplitFolder(path))
        {
            // HF's order: train, validation, test, then any other split by name.
            string[] known = ["train", "validation", "test"];
            var dirs = Directory.GetDirectories(path)
                .OrderBy(d => Array.IndexOf(known, Path.GetFileName(d)) is int i and >= 0 ? i : known.Length)
                .ThenBy(d => d, StringComparer.Ordinal);
            foreach (var dir in dirs)
            {
                if (ImdbFolderReader.IsSplitFolder(dir))
                    dict[Path.GetFileName(dir)] = TextDataset.Load(dir, options with { Format = DatasetFormat.ImdbFolder });
            }
            if (dict.Count == 0)
                throw new InvalidDataException($"{path}: no split folders with pos/ and neg/ inside (found: {string.Join(", ", Directory.GetDirectories(path).Select(Path.GetFileName))})");
            return dict;
        }
        dict["train"] = TextDataset.Load(path, options);
        return dict;
    }

    /// <summary>The split names, in insertion order.</summary>
    public IReadOnlyList<string> Names => [.. _splits.Select(s => s.Key)];

    /// <summary>The number of splits.</summary>
    public int Count => _splits.Count;

    /// <summary>Gets a split, or adds or replaces one.</summary>
    /// <exception cref="KeyNotFoundException">No split has that name; the message lists those there are.</exception>
    public TextDataset this[string name]
    {
        get => _splits[IndexOf(name, throwIfMissing: true)].Value;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            int i = IndexOf(name, throwIfMissing: false);
            if (i >= 0)
                _splits[i] = new(name, value);
            else
                _splits.Add(new(name, value));
        }
    }

    /// <summary>Whether a split has that name.</summary>
    public bool Contains(string name) => IndexOf(name, throwIfMissing: false) >= 0;

    /// <summary>Removes a split if there is one (the spec's <c>del dataset['unsupervised']</c>).</summary>
    /// <returns>Whether a split was removed.</returns>
    public bool Remove(string name)
    {
        int i = IndexOf(name, throwIfMissing: false);
        if (i < 0) return false;
        _splits.RemoveAt(i);
        return true;
    }

    /// <summary>Removes a split and returns it (HF's <c>pop</c>).</summary>
    /// <exception cref="KeyNotFoundException">No split has that name.</exception>
    public TextDataset Pop(string name)
    {
        var split = this[name];
        Remove(name);
        return split;
    }

    /// <summary>Renames a split, keeping its place.</summary>
    /// <exception cref="KeyNotFoundException">No split is called <paramref name="name"/>.</exception>
    /// <exception cref="ArgumentException">A split is already called <paramref name="newName"/>.</exception>
    public void Rename(string name, string newName)
    {
        int i = IndexOf(name, throwIfMissing: true);
        if (name != newName && Contains(newName))
            throw new ArgumentException($"a split is already called '{newName}'", nameof(newName));
        _splits[i] = new(newName, _splits[i].Value);
    }

    /// <summary>Each split's size and class balance, for the summary printed before training.</summary>
    public string DescribeClassBalance()
    {
        var sb = new StringBuilder();
        foreach (var (name, split) in _splits)
        {
            sb.Append(name).Append(" (").Append(split.Count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)).Append(" examples")
              .Append(split.Source is null ? "" : $", {split.Source}").Append(")\n")
              .Append(split.DescribeClassBalance()).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The splits as HF prints them: <c>DatasetDict({ train: Dataset({...}) ... })</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("DatasetDict({\n");
        foreach (var (name, split) in _splits)
            sb.Append("    ").Append(name).Append(": ").Append(split.Describe(4)).Append('\n');
        return sb.Append("})").ToString();
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, TextDataset>> GetEnumerator() => _splits.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int IndexOf(string name, bool throwIfMissing)
    {
        int i = _splits.FindIndex(s => s.Key == name);
        if (i < 0 && throwIfMissing)
            throw new KeyNotFoundException($"no split '{name}' (splits: {string.Join(", ", _splits.Select(s => s.Key))})");
        return i;
    }
}
