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
    /// Loads a built-in model (<c>minilm-l6</c>, <c>arctic-xs</c>), a local HF directory, an ONNX file
    /// with a vocab.txt beside it, or a hub id (<c>bert-base-uncased</c>, <c>org/name</c>) downloaded to the cache.
    /// </summary>
    public static PretrainedModel Load(string nameOrDirectory, HubOptions? hub = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrDirectory);
        if (BuiltInModels.IsBuiltIn(nameOrDirectory)) return LoadBuiltIn(nameOrDirectory);
        if (Directory.Exists(nameOrDirectory)) return LoadDirectory(nameOrDirectory, nameOrDirectory);
        if (File.Exists(nameOrDirectory) && nameOrDirectory.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return LoadOnnxFile(nameOrDirectory);
        if (File.Exists(nameOrDirectory))
            throw new ArgumentException($"{nameOrDirectory}: expected a model directory (config.json, vocab.txt, model.safetensors), an .onnx file or a model name");
        if (!HubDownloader.IsHubId(nameOrDirectory))
            throw new DirectoryNotFoundException($"{nameOrDirectory}: no such model directory");
        var local = HubDownloader.Download(nameOrDirectory, hub ?? new HubOptions());
        return LoadDirectory(local, nameOrDirectory);
    }

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
        var vocab = Path.Combine(directory, HfDirectory.VocabFile);
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
