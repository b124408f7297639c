namespace BertSharp.IO;

/// <summary>
/// Writes a file so that readers see either the old or the complete new content, never a torn
/// one: the data goes to a temporary file in the same directory, which then replaces the target.
/// </summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Deletes the temporary files a killed <see cref="Write"/> left in the directory (they are never
    /// read, so they would otherwise stay forever); called by a writer at the start of its run.
    /// </summary>
    public static void RemoveStale(string directory)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var file in Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            // Only this class's names, ".NAME.<32 hex digits>.tmp": nobody else's files are touched.
            var name = Path.GetFileName(file);
            int guidStart = name.Length - ".tmp".Length - 32;
            if (guidStart > 1 && name[guidStart - 1] == '.' && Guid.TryParseExact(name.AsSpan(guidStart, 32), "N", out _))
                File.Delete(file);
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => s.Write(new System.Text.UTF8Encoding(false).GetBytes(text)));
}
