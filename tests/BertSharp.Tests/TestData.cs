namespace BertSharp.Tests;

/// <summary>Locates the shared sample data (../shared/data beside the repository) and the repository's own files.</summary>
internal static class TestData
{
    private static readonly string Repository = FindRepository();

    public static string Root { get; } = System.IO.Path.GetFullPath(System.IO.Path.Combine(Repository, "..", "shared", "data"));

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>A file of the repository itself (e.g. a saved fuzz finding under bench/).</summary>
    public static string RepositoryPath(params string[] parts) => System.IO.Path.Combine([Repository, .. parts]);

    private static string FindRepository()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "..", "shared", "data");
            if (Directory.Exists(candidate) && File.Exists(System.IO.Path.Combine(dir.FullName, "BertSharp.slnx")))
                return dir.FullName;
            dir = dir.Parent;
        }
        throw new DirectoryNotFoundException("../shared/data not found beside the repository root");
    }
}
