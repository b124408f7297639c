namespace BertSharp.Data;

/// <summary>
/// IMDB's layout (Maas et al. 2011): one review per UTF-8 file under <c>neg/</c> and <c>pos/</c>,
/// labelled "neg" and "pos"; <c>unsup/</c> (unlabelled) is ignored, as the spec deletes that split.
/// Files are read in parallel and kept in a fixed order: neg then pos, each by ordinal file name.
/// </summary>
internal static class ImdbFolderReader
{
    private static readonly string[] Labels = ["neg", "pos"];

    public static bool IsSplitFolder(string dir) =>
        Directory.Exists(Path.Combine(dir, "pos")) && Directory.Exists(Path.Combine(dir, "neg"));

    public static TextDataset Read(string dir, DatasetLoadOptions options)
    {
        if (!IsSplitFolder(dir))
        {
            var subfolders = Directory.GetDirectories(dir).Order(StringComparer.Ordinal).ToArray();
            var splits = subfolders.Where(IsSplitFolder).Select(Path.GetFileName).ToArray();
            throw new InvalidDataException(splits.Length > 0
                ? $"{dir} holds splits ({string.Join(", ", splits)}): load one of them, or all with DatasetDict.Load"
                : $"{dir}: an IMDB folder needs pos/ and neg/ subfolders (found: {string.Join(", ", subfolders.Select(Path.GetFileName))})");
        }
        if (options.TextPairColumn is not null)
            throw new InvalidDataException($"{dir}: IMDB reviews have no text pair");
        bool rating = options.LabelColumn == "rating";
        if (options.LabelColumn is not (null or "label" or "rating"))
            throw new InvalidDataException($"{dir}: an IMDB folder has the labels 'label' (pos/neg) and 'rating' (1-10 from the file name), not '{options.LabelColumn}'");
        var files = new List<(string Path, string Label)>();
        foreach (string label in Labels)
        {
            foreach (string file in Directory.GetFiles(Path.Combine(dir, label), "*.txt").Order(StringComparer.Ordinal))
                files.Add((file, label));
        }

        var texts = new string?[files.Count];
        var errors = new Exception?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                ReadOnlySpan<byte> bytes = File.ReadAllBytes(files[i].Path);
                int bom = bytes.StartsWith("\uFEFF"u8) ? 3 : 0;
                texts[i] = StrictUtf8.Decode(bytes[bom..], files[i].Path, bom, 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                errors[i] = e;
            }
        });
        // Report the first bad file in file order, whichever thread met it first.
        var first = Array.Find(errors, e => e is not null);
        if (first is not null)
            throw first is InvalidDataException ? first : new IOException($"{files[Array.IndexOf(errors, first)].Path}: {first.Message}", first);

        var rows = new ExampleCollector(dir, options, "text", null, rating ? "rating" : "label");
        for (int i = 0; i < files.Count; i++)
            rows.AddFile(texts[i], rating ? Rating(files[i].Path) : files[i].Label, files[i].Path);
        return rows.Build();
    }

    // Maas et al. name each review <id>_<rating>.txt, the rating being the reviewer's 1-10 stars.
    private static string Rating(string file)
    {
        var name = Path.GetFileNameWithoutExtension(file);
        int underscore = name.LastIndexOf('_');
        if (underscore < 0 || !int.TryParse(name.AsSpan(underscore + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int stars) || stars is < 1 or > 10)
            throw new InvalidDataException($"{file}: the file name does not end in _<rating> with a rating from 1 to 10");
        return stars.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
