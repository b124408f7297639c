using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>
/// A pretrained BERT ready for the encoder and tokenizer: config, weights (encoder names without
/// "bert.", task heads such as <c>classifier.*</c> as stored) and the tokenizer's vocabulary and casing.
/// </summary>
public sealed class PretrainedModel
{
    /// <summary>The model's config.json.</summary>
    public required BertConfig Config { get; init; }

    /// <summary>The weights under checkpoint names: the encoder under <c>bert.</c> (<c>bert.embeddings.word_embeddings.weight</c>, …), heads as stored.</summary>
    public required StateDict Weights { get; init; }

    /// <summary>Built-in name, directory or hub id the model came from.</summary>
    public required string Source { get; init; }

    /// <summary>Opens the WordPiece vocabulary (one token per line).</summary>
    public required Func<Stream> OpenVocab { get; init; }

    /// <summary>The vocab.txt path when the model is a directory; null for built-in models.</summary>
    public string? VocabPath { get; init; }

    /// <summary>The tokenizer's <c>do_lower_case</c>.</summary>
    public bool DoLowerCase { get; init; } = true;

    /// <summary>The tokenizer's <c>model_max_length</c>.</summary>
    public int ModelMaxLength { get; init; } = 512;

    /// <summary>
    /// Loads a built-in model (<c>minilm-l6</c>, <c>arctic-xs</c>), a local HF directory, an ONNX file with a vocab.txt
    /// beside it, or a hub id (<c>bert-base-uncased</c>, <c>org/name</c>) from Hugging Face's cache, downloaded into it
    /// first when it is not there (see <see cref="HubOptions"/>).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The name is a path (<c>./out/x</c>, <c>/tmp/x</c>, <c>out/x</c> with a local <c>out</c>) to nothing.</exception>
    /// <exception cref="IOException">The model is not cached and cannot be downloaded (offline, unreachable hub, a cut download).</exception>
    /// <exception cref="InvalidDataException">The files are not a model BertSharp runs exactly; the message names the file and field.</exception>
    public static PretrainedModel Load(string nameOrDirectory, HubOptions? hub = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrDirectory);
        return Open(nameOrDirectory, Locate(nameOrDirectory) ?? HubDownloader.Download(nameOrDirectory, hub ?? new HubOptions()));
    }

    /// <summary>
    /// <see cref="Load"/> without blocking the caller: the download (when the hub model is not cached) is asynchronous and
    /// cancellable, and the files are read on the thread pool.
    /// </summary>
    /// <param name="nameOrDirectory">A built-in name, a model directory, an .onnx file or a hub id.</param>
    /// <param name="hub">Cache, revision, offline mode, progress and logging for hub ids; the environment's defaults when null.</param>
    /// <param name="cancellation">Stops a download (what arrived is kept for the next attempt) or the load before the files are read.</param>
    public static async Task<PretrainedModel> LoadAsync(string nameOrDirectory, HubOptions? hub = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrDirectory);
        var local = Locate(nameOrDirectory)
            ?? await HubDownloader.DownloadAsync(nameOrDirectory, hub ?? new HubOptions(), cancellation).ConfigureAwait(false);
        return await Task.Run(() => Open(nameOrDirectory, local), cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// What a name is on this machine: itself when it is a built-in model, a directory or a file; null for a hub id to look
    /// up in the cache. A path to nothing is reported as such, not sent to the hub as a name.
    /// </summary>
    internal static string? Locate(string name)
    {
        if (BuiltInModels.IsBuiltIn(name) || Directory.Exists(name)) return name;
        if (File.Exists(name))
        {
            if (name.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return name;
            throw new ArgumentException($"{name}: expected a model directory (config.json, vocab.txt, model.safetensors), an .onnx file or a model name");
        }
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        bool path = Path.IsPathRooted(name) || name.StartsWith('.') || name.StartsWith('~') || name.Contains('\\', StringComparison.Ordinal)
            || name.Count(c => c == '/') > 1 || (slash > 0 && Directory.Exists(name[..slash]));
        if (path || !HubDownloader.IsHubId(name))
        {
            var parent = Path.GetDirectoryName(Path.GetFullPath(name));
            throw new DirectoryNotFoundException(parent is not null && Directory.Exists(parent) && slash >= 0
                ? $"{name}: no such directory ({parent} has no '{Path.GetFileName(Path.TrimEndingDirectorySeparator(name))}')"
                : $"{name}: no such directory");
        }
        return null;
    }

    private static PretrainedModel Open(string name, string local) =>
        BuiltInModels.IsBuiltIn(local) ? LoadBuiltIn(local)
        : File.Exists(local) ? LoadOnnxFile(local)
        : LoadDirectory(local, name);

    /// <summary>Saves as an HF directory that <c>transformers</c>' <c>from_pretrained</c> loads; each file is written atomically.</summary>
    public void Save(string directory) =>
        HfDirectory.Save(directory, Config, Weights, OpenVocab, DoLowerCase, ModelMaxLength);

    private static PretrainedModel LoadBuiltIn(string name)
    {
        var key = BuiltInModels.Names.First(n => n.Equals(name, StringComparison.OrdinalIgnoreCase));
        using var onnx = BuiltInModels.OpenOnnx(key);
        var (config, weights) = OnnxBertImporter.Import(onnx, $"{key} (embedded model.onnx)");
        TaskModels.Validate(config, weights);
        return new PretrainedModel { Config = config, Weights = weights, Source = key, OpenVocab = () => BuiltInModels.OpenVocab(key) };
    }

    private static PretrainedModel LoadOnnxFile(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var vocab = Path.Combine(directory, HfDirectory.VocabFile);
        if (!File.Exists(vocab)) throw new FileNotFoundException($"{path}: an ONNX model needs a vocab.txt beside it", vocab);
        var (config, weights) = OnnxBertImporter.Import(path);
        return WithTokenizerFiles(directory, path, config, weights);
    }

    private static PretrainedModel LoadDirectory(string directory, string source)
    {
        var configPath = Path.Combine(directory, HfDirectory.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{directory}: no {HfDirectory.ConfigFile}; not a model directory", configPath);
        var config = HfDirectory.ReadConfig(configPath);
        if (!File.Exists(Path.Combine(directory, HfDirectory.VocabFile)))
            throw new FileNotFoundException($"{directory}: no {HfDirectory.VocabFile}", Path.Combine(directory, HfDirectory.VocabFile));
        return WithTokenizerFiles(directory, source, config, HfDirectory.ReadWeights(directory));
    }

    private static PretrainedModel WithTokenizerFiles(string directory, string source, BertConfig config, StateDict weights)
    {
        TaskModels.Validate(config, weights);
        LoadedWeights.Check(config, weights);
        var vocab = Path.Combine(directory, HfDirectory.VocabFile);
        // A token id at or past vocab_size has no embedding row: refuse here rather than fail every request that uses it.
        int tokens = File.ReadLines(vocab).Count();
        if (tokens > config.VocabSize)
            throw new InvalidDataException($"{vocab}: has {tokens} tokens but config.json's vocab_size is {config.VocabSize}; the vocabulary does not match the model");
        var (lower, max) = HfDirectory.ReadTokenizerConfig(directory);
        return new PretrainedModel
        {
            Config = config,
            Weights = weights,
            Source = source,
            VocabPath = vocab,
            OpenVocab = () => File.OpenRead(vocab),
            DoLowerCase = lower,
            ModelMaxLength = max ?? config.MaxPositionEmbeddings,
        };
    }
}
