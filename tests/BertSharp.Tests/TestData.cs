namespace BertSharp.Tests;

/// <summary>Locates the shared sample data (../shared/data beside the repository).</summary>
internal static class TestData
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "..", "shared", "data");
            if (Directory.Exists(candidate) && File.Exists(System.IO.Path.Combine(dir.FullName, "BertSharp.slnx")))
                return System.IO.Path.GetFullPath(candidate);
            dir = dir.Parent;
        }
        throw new DirectoryNotFoundException("../shared/data not found beside the repository root");
    }
}
