using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>What <see cref="Pretraining.Create"/> builds: the objectives and where the weights come from.</summary>
public sealed record PretrainingOptions
{
    /// <summary>Also train next-sentence prediction (a <see cref="BertForPreTraining"/>); masked LM alone otherwise.</summary>
    public bool NextSentencePrediction { get; init; }

    /// <summary>Mask whole words (a token and its <c>##</c> pieces together).</summary>
    public bool WholeWordMasking { get; init; }

    /// <summary>The share of tokens masked (BERT: 0.15).</summary>
    public double MlmProbability { get; init; } = 0.15;

    /// <summary>
    /// Train from scratch with this shape instead of the base model's weights: <c>tiny</c> (2 layers × 128),
    /// <c>mini</c> (4 × 256), <c>small</c> (4 × 512), <c>base</c> (12 × 768), or a config.json path; the base
    /// model then gives only the vocabulary.
    /// </summary>
    public string? Config { get; init; }
}

/// <summary>
/// Masked-LM (and optionally next-sentence) pre-training with the fine-tuning loop, its checkpoints, resume, bf16,
/// logs and plots: domain- or task-adaptive from an existing checkpoint, or from scratch.
/// </summary>
public static class Pretraining
{
    /// <summary>The from-scratch shapes by name (Google's BERT miniatures: layers, hidden size, heads).</summary>
    public static IReadOnlyDictionary<string, (int Layers, int Hidden, int Heads)> Presets { get; } =
        new Dictionary<string, (int, int, int)> { ["tiny"] = (2, 128, 2), ["mini"] = (4, 256, 4), ["small"] = (4, 512, 8), ["base"] = (12, 768, 12) };

    /// <summary>
    /// A trainer for pre-training on top of <paramref name="baseModel"/> (<c>minilm-l6</c>, <c>arctic-xs</c>, an HF
    /// directory or a hub name): its weights, and its masked-LM head when it has one (a new head, initialised as
    /// HF does, when it has not); or, with <see cref="PretrainingOptions.Config"/>, a new model with its vocabulary.
    /// Train it on a <see cref="Data.TextCorpus"/>.
    /// </summary>
    public static Trainer Create(string baseModel, PretrainingOptions? options = null, TrainingArguments? args = null)
    {
        options ??= new PretrainingOptions();
        args ??= new TrainingArguments();
        args.Validate();
        var pretrained = PretrainedModel.Load(baseModel);
        using var vocabStream = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocabStream, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        var config = options.Config is null ? pretrained.Config : FromScratch(options.Config, pretrained.Config, tokenizer);
        config = config with
        {
            HiddenDropoutProb = args.Dropout ?? config.HiddenDropoutProb,
            AttentionProbsDropoutProb = args.Dropout ?? config.AttentionProbsDropoutProb,
        };
        BertMaskedLanguageModel model = (options.NextSentencePrediction, options.Config is null) switch
        {
            (true, true) => new BertForPreTraining(config, pretrained.Weights, args.Seed),
            (false, true) => new BertForMaskedLM(config, pretrained.Weights, args.Seed),
            (true, false) => BertForPreTraining.CreateRandom(config, args.Seed),
            (false, false) => BertForMaskedLM.CreateRandom(config, args.Seed),
        };
        var task = new PretrainingTask(tokenizer, config.VocabSize, options.NextSentencePrediction, options.WholeWordMasking, options.MlmProbability, args.Seed);
        return new Trainer(model, task, tokenizer, args, pretrained.OpenVocab, pretrained.DoLowerCase);
    }

    private static BertConfig FromScratch(string name, BertConfig vocabularyOf, BertTokenizer tokenizer)
    {
        if (Presets.TryGetValue(name, out var shape))
        {
            return new BertConfig
            {
                VocabSize = Math.Max(vocabularyOf.VocabSize, tokenizer.Vocabulary.Count),
                HiddenSize = shape.Hidden,
                NumHiddenLayers = shape.Layers,
                NumAttentionHeads = shape.Heads,
                IntermediateSize = 4 * shape.Hidden,
                PadTokenId = tokenizer.PadId,
            };
        }
        if (!File.Exists(name))
            throw new ArgumentException($"--config {name}: not one of {string.Join(", ", Presets.Keys)} nor a config.json file");
        var config = HfDirectory.ReadConfig(name);
        if (config.VocabSize < tokenizer.Vocabulary.Count)
            throw new InvalidDataException($"{name}: vocab_size {config.VocabSize} is smaller than the tokenizer's {tokenizer.Vocabulary.Count} tokens");
        return config;
    }
}
