using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BertSharp.IO;

namespace BertSharp.Cli.Commands;

/// <summary>
/// What every command's <c>--model</c> names: a built-in model, a local path, or a hub id with <c>--revision</c>, looked
/// up in Hugging Face's cache and downloaded into it (with a progress bar on a terminal) when missing. Commands then load
/// a local directory, so hub models work wherever a directory does.
/// </summary>
internal static class ModelSource
{
    public static Option<string?> Revision() =>
        new("--revision") { Description = "Branch, tag or commit of a hub model given to --model (default: main)" };

    /// <summary>The local name or folder to load for <paramref name="model"/>; null stays null.</summary>
    public static string Resolve(string model, string? revision)
    {
        if (PretrainedModel.Locate(model) is { } local)
        {
            if (revision is not null) throw new ArgumentException($"--revision {revision}: applies to hub models, and '{model}' is a local model");
            return local;
        }
        using var bar = new DownloadBar(Console.Error);
        return HubDownloader.Download(model, new HubOptions { Revision = revision ?? "main", Progress = bar });
    }

    /// <summary>One line per file, redrawn at most ten times a second: percentage, size, rate and time left.</summary>
    private sealed class DownloadBar(TextWriter writer) : IProgress<DownloadProgress>, IDisposable
    {
        // Only a terminal shows a bar; a redirected stderr gets the errors alone, as the spec's CLI conventions ask.
        private readonly bool _enabled = !Console.IsErrorRedirected;
        private readonly Stopwatch _clock = new();
        private string? _file;
        private long _start;
        private TimeSpan _drawn;
        private int _width;

        public void Report(DownloadProgress value)
        {
            if (!_enabled) return;
            if (value.File != _file)
            {
                if (_file is not null) writer.WriteLine();
                (_file, _start, _drawn, _width) = (value.File, value.BytesDone, TimeSpan.FromSeconds(-1), 0);
                _clock.Restart();
            }
            bool finished = value.BytesDone == value.TotalBytes;
            if (!finished && _clock.Elapsed - _drawn < TimeSpan.FromMilliseconds(100)) return;
            _drawn = _clock.Elapsed;
            double rate = (value.BytesDone - _start) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            var c = CultureInfo.InvariantCulture;
            string line = value.TotalBytes is long total && total > 0
                ? string.Create(c, $"{value.File} {Bar(value.BytesDone / (double)total)} {100.0 * value.BytesDone / total,5:F1}% {Mb(value.BytesDone)}/{Mb(total)} MB {Mb(rate)} MB/s")
                    + (rate > 0 && !finished ? string.Create(c, $" {TimeSpan.FromSeconds((total - value.BytesDone) / rate):hh\\:mm\\:ss} left") : "")
                : string.Create(c, $"{value.File} {Mb(value.BytesDone)} MB {Mb(rate)} MB/s");
            // Spaces over what a longer previous line left on the screen.
            writer.Write("\r" + line.PadRight(_width));
            _width = line.Length;
        }

        public void Dispose()
        {
            if (_file is not null) writer.WriteLine();
        }

        private static string Mb(double bytes) => (bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture);

        private static string Bar(double done)
        {
            int filled = (int)Math.Round(Math.Clamp(done, 0, 1) * 20);
            return "[" + new string('#', filled) + new string('.', 20 - filled) + "]";
        }
    }
}
