using System.Text.RegularExpressions;

namespace BertSharp.IO;

/// <summary>
/// Hugging Face's cache layout, as huggingface_hub writes it: <c>models--org--name/snapshots/&lt;commit&gt;/</c> holds
/// a commit's files (symbolic links into <c>blobs/</c>, or the files themselves where links are unavailable), and
/// <c>refs/&lt;branch or tag&gt;</c> holds the commit the name pointed to when it was downloaded.
/// </summary>
internal static partial class HubCache
{
    public static string RepoFolder(string cacheDirectory, string repoId) =>
        Path.Combine(cacheDirectory, "models--" + repoId.Replace("/", "--", StringComparison.Ordinal));

    public static bool IsCommit(string revision) => CommitHash().IsMatch(revision);

    public static string SnapshotFolder(string cacheDirectory, string repoId, string commit) =>
        Path.Combine(RepoFolder(cacheDirectory, repoId), "snapshots", commit);

    public static string RefFile(string cacheDirectory, string repoId, string revision) =>
        Path.Combine(RepoFolder(cacheDirectory, repoId), "refs", revision);

    /// <summary>The snapshot folder a revision names in the cache, or null when the cache does not know it.</summary>
    public static string? Snapshot(string cacheDirectory, string repoId, string revision)
    {
        CheckRevision(revision);
        var commit = revision;
        if (!IsCommit(revision))
        {
            var reference = RefFile(cacheDirectory, repoId, revision);
            if (!File.Exists(reference)) return null;
            commit = File.ReadAllText(reference).Trim();
            if (!IsCommit(commit)) throw new InvalidDataException($"{reference}: holds '{commit}', not a commit hash; delete the file to download the revision again");
        }
        var folder = SnapshotFolder(cacheDirectory, repoId, commit);
        return Directory.Exists(folder) ? folder : null;
    }

    /// <summary>A revision becomes a path under refs/: it must not climb out of it.</summary>
    public static void CheckRevision(string revision)
    {
        if (revision.Length == 0 || revision.Split('/').Any(part => part is "" or "." or ".." || part.Contains('\\', StringComparison.Ordinal)))
            throw new ArgumentException($"--revision '{revision}': not a branch, tag or commit name");
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();
}
