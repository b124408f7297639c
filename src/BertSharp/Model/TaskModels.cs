using BertSharp.IO;

namespace BertSharp.Model;

/// <summary>
/// Builds the task model a checkpoint's config names in <c>architectures</c>: the one place a new head is
/// registered for loading, export and serving.
/// </summary>
public static class TaskModels
{
    /// <summary>The architectures BertSharp builds, as Hugging Face names them.</summary>
    public static IReadOnlyList<string> Architectures { get; } =
        [nameof(BertForSequenceClassification), nameof(BertForTokenClassification), nameof(BertForQuestionAnswering), nameof(BertForMaskedLM), nameof(BertForPreTraining)];

    /// <summary>
    /// The architecture of a checkpoint: the config's <c>architectures</c>, or when it names none (or only
    /// <c>BertModel</c> over weights that hold a head) what the head's weights say.
    /// </summary>
    public static string ArchitectureOf(BertConfig config, StateDict weights)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        var fromWeights = weights.ContainsKey("classifier.weight") ? nameof(BertForSequenceClassification)
            : weights.ContainsKey("qa_outputs.weight") ? nameof(BertForQuestionAnswering)
            : weights.ContainsKey("cls.seq_relationship.weight") ? "BertForPreTraining"
            : weights.Keys.Any(k => k.StartsWith("cls.predictions.", StringComparison.Ordinal)) ? "BertForMaskedLM"
            : "BertModel";
        return config.Architectures is { Count: > 0 } a && !(a[0] == "BertModel" && fromWeights != "BertModel") ? a[0] : fromWeights;
    }

    /// <summary>Whether the checkpoint is a task model BertSharp builds (a bare encoder is not).</summary>
    public static bool HasHead(BertConfig config, StateDict weights) => Architectures.Contains(ArchitectureOf(config, weights));

    /// <summary>
    /// Checks a checkpoint against its config as loading will: the modules of its architecture (the encoder alone
    /// for a head BertSharp lacks) ask for every weight by name and shape, over the checkpoint's own tensors.
    /// </summary>
    /// <exception cref="InvalidDataException">A weight is missing or misshaped; the message names the source and tensor.</exception>
    internal static void Validate(BertConfig config, StateDict weights)
    {
        if (ArchitectureOf(config, weights) == nameof(BertForSequenceClassification))
            BertForSequenceClassification.Validate(config, weights);
        else if (ArchitectureOf(config, weights) == nameof(BertForTokenClassification))
            BertForTokenClassification.Validate(config, weights);
        else if (ArchitectureOf(config, weights) == nameof(BertForQuestionAnswering))
            BertForQuestionAnswering.Validate(config, weights);
        else if (ArchitectureOf(config, weights) == nameof(BertForMaskedLM)) BertForMaskedLM.Validate(config, weights);
        else if (ArchitectureOf(config, weights) == nameof(BertForPreTraining)) BertForPreTraining.Validate(config, weights);
        else
            _ = new BertModel(config, WeightBuilder.Create(weights.WithCheckpointNames(), 0, config.InitializerRange, shareTensors: true).Push(BertModel.Root), addPooler: null);
    }

    /// <summary>The task model for the checkpoint's architecture, or null for a bare encoder (<c>BertModel</c>).</summary>
    /// <exception cref="NotSupportedException">The checkpoint is a task model whose head BertSharp does not have.</exception>
    public static BertPreTrainedModel? Load(BertConfig config, StateDict weights)
    {
        var architecture = ArchitectureOf(config, weights);
        return architecture switch
        {
            nameof(BertForSequenceClassification) => new BertForSequenceClassification(config, weights),
            nameof(BertForTokenClassification) => new BertForTokenClassification(config, weights),
            nameof(BertForQuestionAnswering) => new BertForQuestionAnswering(config, weights),
            nameof(BertForMaskedLM) => new BertForMaskedLM(config, weights),
            nameof(BertForPreTraining) => new BertForPreTraining(config, weights),
            "BertModel" => null,
            _ => throw new NotSupportedException(
                $"{weights.Source}: architecture '{architecture}' is not one BertSharp runs ({string.Join(", ", Architectures)} or BertModel)"),
        };
    }
}
