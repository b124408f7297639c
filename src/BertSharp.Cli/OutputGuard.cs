using BertSharp.IO;

namespace BertSharp.Cli;

/// <summary>
/// Refuses an output path that is one of the command's inputs: the write is atomic, so it would not
/// tear the input, but it would replace it — a model's weights overwritten by predictions or a graph.
/// </summary>
internal static class OutputGuard
{
    // The files a model directory is read from; an output over any of them destroys the model.
    private static readonly string[] ModelFiles =
        [HfDirectory.ConfigFile, HfDirectory.VocabFile, HfDirectory.TokenizerConfigFile, HfDirectory.WeightsFile, HfDirectory.WeightsIndexFile];

    /// <param name="output">The path the command will write.</param>
    /// <param name="option">The option that gave it, for the message.</param>
    /// <param name="model">The model the command reads: a directory (its model files count as inputs) or a file (with the vocab.txt beside it).</param>
    /// <param name="inputs">Other files the command reads.</param>
    /// <exception cref="ArgumentException">The output is an input.</exception>
    public static void RefuseInputs(string output, string option, string model, params string?[] inputs)
    {
        var target = Canonical(output);
        var modelFiles = Directory.Exists(model)
            ? ModelFiles.Select(f => Path.Combine(model, f))
                .Concat(Directory.EnumerateFiles(model, "*.safetensors"))
            : [model, Path.Combine(Path.GetDirectoryName(Path.GetFullPath(model))!, HfDirectory.VocabFile)];
        foreach (var input in modelFiles.Concat(inputs.OfType<string>()))
        {
            if (string.Equals(Canonical(input), target, StringComparison.Ordinal))
                throw new ArgumentException($"{option} {output}: is {input}, which this command reads; write the output somewhere else");
        }
    }

    /// <summary>Refuses two outputs of one command that are the same file: the second write would replace the first.</summary>
    /// <exception cref="ArgumentException">They are one file.</exception>
    public static void RefuseSame(string? first, string firstOption, string? second, string secondOption)
    {
        if (first is not null && second is not null && string.Equals(Canonical(first), Canonical(second), StringComparison.Ordinal))
            throw new ArgumentException($"{secondOption} {second}: is also {firstOption}, and one output would replace the other; give them different files");
    }

    // The absolute path with symbolic links followed, so that a link to an input counts as the input.
    private static string Canonical(string path)
    {
        var full = Path.GetFullPath(path);
        var info = new FileInfo(full);
        return info.Exists && info.LinkTarget is not null ? info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full : full;
    }
}
