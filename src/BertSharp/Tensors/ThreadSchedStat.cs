using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace BertSharp.Tensors;

/// <summary>
/// The calling thread's time on a CPU and time runnable but waiting for one, from the kernel's
/// /proc/thread-self/schedstat (Linux); other systems do not say.
/// </summary>
internal static class ThreadSchedStat
{
    // Opened by each thread for itself (thread-self resolves when opened) and re-read in place.
    [ThreadStatic] private static SafeFileHandle? handle;
    [ThreadStatic] private static bool unavailable;

    /// <summary>Nanoseconds the calling thread has run and has waited to run; false where unknown.</summary>
    public static bool TryRead(out long running, out long waiting)
    {
        running = waiting = 0;
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            handle ??= File.OpenHandle("/proc/thread-self/schedstat");
            // "<running ns> <waiting ns> <time slices>\n"
            Span<byte> text = stackalloc byte[96];
            var line = text[..RandomAccess.Read(handle, text, 0)];
            if (Utf8Parser.TryParse(line, out running, out int used) && used < line.Length &&
                Utf8Parser.TryParse(line[(used + 1)..], out waiting, out _))
                return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        unavailable = true;
        return false;
    }
}
