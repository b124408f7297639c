using BertSharp.IO;
using BertSharp.Model;
using BertSharp.Text;
using BertSharp.Training;

namespace BertSharp.QuestionAnswering;

/// <summary>Builds a <see cref="Trainer"/> for extractive question answering (<c>bertsharp train --task question-answering</c>).</summary>
public static class QuestionAnsweringTrainer
{
    /// <summary>
    /// A <see cref="BertForQuestionAnswering"/> on top of a pretrained encoder (<c>minilm-l6</c>, an HF directory or a
    /// hub name) with a new <c>qa_outputs</c> from the seed, trained on SQuAD-style data. Windows are
    /// <see cref="TrainingArguments.MaxLength"/> tokens; the other feature and post-processing settings come from
    /// <paramref name="options"/> (run_qa.py's defaults when null).
    /// </summary>
    public static Trainer Create(string baseModel, TrainingArguments? args = null, QaOptions? options = null)
    {
        args ??= new TrainingArguments { MaxLength = 384 };
        args.Validate();
        options = (options ?? new QaOptions()) with { MaxLength = args.MaxLength };
        options.Validate();
        var pretrained = PretrainedModel.Load(baseModel);
        var config = pretrained.Config with
        {
            HiddenDropoutProb = args.Dropout ?? pretrained.Config.HiddenDropoutProb,
            AttentionProbsDropoutProb = args.Dropout ?? pretrained.Config.AttentionProbsDropoutProb,
            Id2Label = null,
            Label2Id = null,
        };
        var model = new BertForQuestionAnswering(config, pretrained.Weights, args.Seed);
        using var vocab = pretrained.OpenVocab();
        var tokenizer = BertTokenizer.FromVocab(vocab, new BertTokenizerOptions { DoLowerCase = pretrained.DoLowerCase }, pretrained.Source);
        return new Trainer(model, new QuestionAnsweringTask(options), tokenizer, args, pretrained.OpenVocab, pretrained.DoLowerCase);
    }
}
