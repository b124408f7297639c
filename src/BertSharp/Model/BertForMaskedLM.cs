using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForMaskedLM: the encoder and the masked-LM head <c>cls.predictions</c> (see
/// <see cref="BertMaskedLanguageModel"/>). Loads HF checkpoints with or without the stored decoder weight and with
/// TF-era <c>gamma</c>/<c>beta</c> names; a bare encoder gets a new head. Saves without the decoder weight, as HF's
/// safetensors files do.
/// </summary>
public sealed class BertForMaskedLM : BertMaskedLanguageModel
{
    /// <summary>Loads from a checkpoint; a missing head is initialised from <paramref name="seed"/>.</summary>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped.</exception>
    public BertForMaskedLM(BertConfig config, StateDict weights, int seed = 42)
        : base(Resolve(config), weights ?? throw new ArgumentNullException(nameof(weights)), seed, nextSentence: false, shareTensors: false)
    {
    }

    private BertForMaskedLM(BertConfig config, StateDict? weights, int seed, bool shareTensors)
        : base(Resolve(config), weights, seed, nextSentence: false, shareTensors)
    {
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests and pre-training from scratch.</summary>
    public static BertForMaskedLM CreateRandom(BertConfig config, int seed = 42) => new(config, null, seed, shareTensors: false);

    /// <summary>Builds the model over the checkpoint's own tensors, which checks every name and shape.</summary>
    internal static void Validate(BertConfig config, StateDict weights) => _ = new BertForMaskedLM(config, weights, 42, shareTensors: true);

    /// <summary>The config this model saves: its architecture written out.</summary>
    internal static BertConfig Resolve(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { Architectures = [nameof(BertForMaskedLM)], Id2Label = null, Label2Id = null, ProblemType = null, ClassifierInput = null };
    }
}
