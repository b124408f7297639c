using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using BertSharp.IO;
using Spectre.Console;

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
        var options = new HubOptions { Revision = revision ?? "main" };
        // Only a terminal shows a bar; a redirected stderr gets the errors alone, as the spec's CLI conventions ask.
        if (Console.IsErrorRedirected) return HubDownloader.Download(model, options);
        // Interactive is given, not detected: stderr being a terminal is what decides here, whatever stdin and stdout are.
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error), Interactive = InteractionSupport.Yes });
        // The display hides the cursor until it ends; Ctrl-C ends the process first, so the cursor is shown again here.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => console.Cursor.Show());
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => console.Cursor.Show());
        using var display = new DownloadDisplay(console);
        var snapshot = HubDownloader.Download(model, options with { Progress = display });
        display.Complete();
        return snapshot;
    }

    /// <summary>
    /// Spectre.Console's progress display with one task per file, indeterminate while the hub has not said the file's
    /// size. It starts with the first bytes, not before: an empty display still draws blank lines, and a model found in
    /// the cache, or a request that fails, should print nothing but its error.
    /// </summary>
    private sealed class DownloadDisplay(IAnsiConsole console) : IDisposable, IProgress<DownloadProgress>
    {
        private readonly TaskCompletionSource<ProgressContext> _context = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _downloaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Task? _display;
        private string? _file;
        private ProgressTask? _task;

        public void Report(DownloadProgress value)
        {
            if (_display is null)
            {
                _display = console.Progress()
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                        new DownloadedColumn { Culture = CultureInfo.InvariantCulture }, new TransferSpeedColumn { Culture = CultureInfo.InvariantCulture },
                        new RemainingTimeColumn())
                    .StartAsync(context =>
                    {
                        _context.SetResult(context);
                        return _downloaded.Task;
                    });
                // A display that fails to start is an error here rather than a wait for a context that never comes.
                Task.WaitAny(_context.Task, _display);
                if (_display.IsFaulted) _display.GetAwaiter().GetResult();
            }
            if (value.File != _file)
            {
                // The downloader reports a file only once the one before it is verified and in place.
                Complete();
                _file = value.File;
                _task = _context.Task.Result.AddTask(value.File, maxValue: value.TotalBytes ?? 1);
                _task.IsIndeterminate = value.TotalBytes is null;
            }
            // A task's value cannot pass its maximum, and one that reaches it shows as done: an unknown size stays a
            // byte ahead of what arrived until the file is complete.
            if (value.TotalBytes is null) _task!.MaxValue = value.BytesDone + 1;
            _task!.Value = value.BytesDone;
        }

        /// <summary>Shows the last file as done: a file of unknown size gets the size that arrived.</summary>
        public void Complete()
        {
            if (_task is null) return;
            if (_task.IsIndeterminate)
            {
                _task.MaxValue = _task.Value;
                _task.IsIndeterminate = false;
            }
            _task.StopTask();
        }

        /// <summary>Ends the display (its last refresh, the cursor shown again) before the command goes on or fails.</summary>
        public void Dispose()
        {
            if (_display is null) return;
            _downloaded.TrySetResult();
            _display.GetAwaiter().GetResult();
        }
    }
}
