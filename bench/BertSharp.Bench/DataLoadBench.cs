using System.Diagnostics;
using BertSharp.Data;

/// <summary>
/// Time to load each sample data set with <see cref="TextDataset.Load"/>, against the floor of
/// reading the same bytes as text with no parsing (File.ReadAllLines, or File.ReadAllText per IMDB
/// review), in the same process: median of 9 runs after 10 warm-up runs (so both run tier-1 code).
/// </summary>
internal static class DataLoadBench
{
    public static int Run(string[] args)
    {
        string root = args.Length > 0 ? args[0] : Path.Combine("..", "shared", "data");
        Compare("sentence-polarity/train.csv", Path.Combine(root, "sentence-polarity", "train.csv"),
            p => File.ReadAllLines(p).Length);
        Compare("sst2/train.tsv", Path.Combine(root, "sst2", "train.tsv"),
            p => File.ReadAllLines(p).Length);
        Compare("imdb/train (25,000 files)", Path.Combine(root, "imdb", "train"),
            p => Directory.GetFiles(Path.Combine(p, "pos"), "*.txt").Concat(Directory.GetFiles(Path.Combine(p, "neg"), "*.txt"))
                .Sum(f => File.ReadAllText(f).Length > 0 ? 1 : 0));
        return 0;
    }

    private static void Compare(string name, string path, Func<string, int> peer)
    {
        double ours = Median(() => TextDataset.Load(path).Count, out int rows);
        double floor = Median(() => peer(path), out _);
        Console.WriteLine($"{name,-28} {rows,7:N0} rows  Load {ours,8:F1} ms  read-only peer {floor,8:F1} ms  ratio {ours / floor,5:F2}");
    }

    private static double Median(Func<int> work, out int result)
    {
        result = 0;
        for (int i = 0; i < 10; i++) result = work();
        var times = new double[9];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            result = work();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
