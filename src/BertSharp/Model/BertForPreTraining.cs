using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// Hugging Face's BertForPreTraining: the encoder with its pooler, the masked-LM head <c>cls.predictions</c> and the
/// next-sentence head <c>cls.seq_relationship</c> (a linear layer on the pooler output, two logits: is next, is
/// random). The loss is the masked-LM loss plus the next-sentence loss, as HF's <c>total_loss</c>.
/// </summary>
public sealed class BertForPreTraining : BertMaskedLanguageModel
{
    /// <summary>Loads from a checkpoint; missing heads (and a missing pooler) are initialised from <paramref name="seed"/>.</summary>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped.</exception>
    public BertForPreTraining(BertConfig config, StateDict weights, int seed = 42)
        : base(Resolve(config), weights ?? throw new ArgumentNullException(nameof(weights)), seed, nextSentence: true, shareTensors: false)
    {
    }

    private BertForPreTraining(BertConfig config, StateDict? weights, int seed, bool shareTensors)
        : base(Resolve(config), weights, seed, nextSentence: true, shareTensors)
    {
    }

    /// <summary>A randomly initialised model (Hugging Face's initialisation), for tests and pre-training from scratch.</summary>
    public static BertForPreTraining CreateRandom(BertConfig config, int seed = 42) => new(config, null, seed, shareTensors: false);

    /// <summary>Builds the model over the checkpoint's own tensors, which checks every name and shape.</summary>
    internal static void Validate(BertConfig config, StateDict weights) => _ = new BertForPreTraining(config, weights, 42, shareTensors: true);

    /// <summary>The config this model saves: its architecture written out.</summary>
    internal static BertConfig Resolve(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { Architectures = [nameof(BertForPreTraining)], Id2Label = null, Label2Id = null, ProblemType = null, ClassifierInput = null };
    }
}
