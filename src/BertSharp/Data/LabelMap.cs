using System.Globalization;

namespace BertSharp.Data;

/// <summary>
/// The label ↔ id mapping of a classifier (HF's <c>id2label</c>/<c>label2id</c>). Ids follow the
/// sorted labels: numerically when every label is an integer ("2" before "10"), otherwise by
/// ordinal string order ("neg" = 0, "pos" = 1), so the same labels always get the same ids.
/// </summary>
public sealed class LabelMap
{
    private readonly string[] _labels;
    private readonly Dictionary<string, int> _ids;

    internal LabelMap(string[] labels)
    {
        _labels = labels;
        _ids = new Dictionary<string, int>(labels.Length, StringComparer.Ordinal);
        for (int i = 0; i < labels.Length; i++)
        {
            if (!_ids.TryAdd(labels[i], i))
                throw new ArgumentException($"label '{labels[i]}' appears twice");
        }
    }

    /// <summary>A map of the distinct labels, sorted as the class remarks describe.</summary>
    /// <exception cref="ArgumentException">There are no labels.</exception>
    public static LabelMap FromLabels(IEnumerable<string> labels)
    {
        var distinct = new HashSet<string>(labels, StringComparer.Ordinal);
        if (distinct.Count == 0)
            throw new ArgumentException("there are no labels");
        return new LabelMap([.. Order(distinct)]);
    }

    /// <summary>The map of a training set, which must hold at least two labels.</summary>
    /// <exception cref="InvalidDataException">The data has a single label (or none); the message names the source.</exception>
    public static LabelMap FromTrainingData(TextDataset train)
    {
        var balance = train.ClassBalance();
        string source = train.Source ?? "the training data";
        if (balance.Count == 0)
            throw new InvalidDataException($"{source}: no examples to train on");
        if (balance.Count == 1)
            throw new InvalidDataException($"{source}: every example has the label '{balance[0].Key}'; a classifier needs at least two classes");
        return new LabelMap([.. balance.Select(b => b.Key)]);
    }

    /// <summary>A map as stored in a model's config.json (<c>id2label</c>): ids must be 0..n−1.</summary>
    /// <exception cref="ArgumentException">An id is missing or out of range.</exception>
    public static LabelMap FromId2Label(IReadOnlyDictionary<int, string> id2label)
    {
        var labels = new string[id2label.Count];
        foreach (var (id, label) in id2label)
        {
            if ((uint)id >= (uint)labels.Length)
                throw new ArgumentException($"id2label has id {id}; ids must run from 0 to {labels.Length - 1}");
            labels[id] = label;
        }
        return new LabelMap(labels);
    }

    /// <summary>The number of labels.</summary>
    public int Count => _labels.Length;

    /// <summary>The labels by id (<c>id2label</c>).</summary>
    public IReadOnlyList<string> Id2Label => _labels;

    /// <summary>The ids by label (<c>label2id</c>).</summary>
    public IReadOnlyDictionary<string, int> Label2Id => _ids;

    /// <summary>The label of an id.</summary>
    public string this[int id] => _labels[id];

    /// <summary>The id of a label, if the map has it.</summary>
    public bool TryGetId(string label, out int id) => _ids.TryGetValue(label, out id);

    /// <summary>The id of a label.</summary>
    /// <exception cref="ArgumentException">The map does not have the label.</exception>
    public int IdOf(string label) => _ids.TryGetValue(label, out int id)
        ? id
        : throw new ArgumentException($"unknown label '{Shown.Text(label)}' (labels: {Shown.List(_labels)})");

    /// <summary>The ids of every example's label, in order.</summary>
    /// <exception cref="InvalidDataException">An example has a label the map does not have; the message names its file and line.</exception>
    public int[] Encode(TextDataset dataset)
    {
        var ids = new int[dataset.Count];
        var rows = dataset.AsSpan();
        for (int i = 0; i < rows.Length; i++)
        {
            if (!_ids.TryGetValue(rows[i].Label, out ids[i]))
                throw new InvalidDataException($"{rows[i].Location}: label '{Shown.Text(rows[i].Label)}' is not one of the model's labels ({Shown.List(_labels)})");
        }
        return ids;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(", ", _labels.Select((l, i) => $"{i}: {l}"));

    /// <summary>Sorts labels as the map numbers them: numerically when all are integers, else ordinally.</summary>
    internal static IEnumerable<string> Order(IEnumerable<string> labels)
    {
        var list = labels.ToList();
        bool numeric = list.All(l => long.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
        return numeric
            ? list.OrderBy(l => long.Parse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)).ThenBy(l => l, StringComparer.Ordinal)
            : list.Order(StringComparer.Ordinal);
    }
}
