using System.Globalization;
using BertSharp.Data;
using BertSharp.Evaluation;
using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;

namespace BertSharp.Training;

/// <summary>Builds a <see cref="Trainer"/> for named-entity recognition and other word tagging.</summary>
public static class TokenClassificationTrainer
{
    /// <summary>
    /// A <see cref="BertForTokenClassification"/> on top of a pretrained encoder (<c>minilm-l6</c>, an HF directory or
    /// a hub name), with a new classifier for <paramref name="tags"/> initialised from the seed.
    /// </summary>
    /// <param name="baseModel">The pretrained encoder.</param>
    /// <param name="tags">The tag names (BIO), e.g. from <see cref="TokenDataset.TagSet"/> of the training data.</param>
    /// <param name="args">The recipe; the spec's defaults when null.</param>
    /// <param name="labelAllTokens">Train on every piece of a word (B- becomes I- after the first), not only the first.</param>
    /// <param name="stride">Pieces shared by consecutive windows of a sentence longer than the maximum length (null: 32, at most half a window).</param>
    /// <param name="mode">How evaluation reads entities (seqeval's default or strict IOB2).</param>
    public static Trainer Create(string baseModel, LabelMap tags, TrainingArguments? args = null, bool labelAllTokens = false,
        int? stride = null, EntityMode mode = EntityMode.Default)
    {
        ArgumentNullException.ThrowIfNull(tags);
        args ??= new TrainingArguments();
        args.Validate();
        var pretrained = PretrainedModel.Load(baseModel);
        var config = pretrained.Config with
        {
            Id2Label = tags.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.i.ToString(CultureInfo.InvariantCulture), p => p.l),
            Label2Id = tags.Id2Label.Select((l, i) => (i, l)).ToDictionary(p => p.l, p => p.i),
            HiddenDropoutProb = args.Dropout ?? pretrained.Config.HiddenDropoutProb,
            AttentionProbsDropoutProb = args.Dropout ?? pretrained.Config.AttentionProbsDropoutProb,
        };
        var model = new BertForTokenClassification(config, pretrained.Weights, args.Seed);
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        return new Trainer(model, new TokenClassificationTask(tags, stride, labelAllTokens, mode), tokenizer, args, pretrained.OpenVocab, pretrained.DoLowerCase);
    }
}
