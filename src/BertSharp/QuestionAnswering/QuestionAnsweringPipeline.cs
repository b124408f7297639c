using BertSharp.Inference;
using BertSharp.IO;
using BertSharp.Model;

namespace BertSharp.QuestionAnswering;

/// <summary>
/// The question-answering pipeline: a <see cref="BertForQuestionAnswering"/> directory (trained by
/// <c>bertsharp train --task question-answering</c> or saved by Hugging Face) answering questions with a span of
/// their context, over overlapping windows as run_qa.py builds them, on the managed encoder or ONNX Runtime.
/// Safe to call from several threads.
/// </summary>
public sealed class QuestionAnsweringPipeline : Pipeline
{
    internal QuestionAnsweringPipeline(PretrainedModel pretrained, IModelRuntime runtime) : base(pretrained, runtime)
    {
        if (runtime is IGraphRuntime onnx && onnx.OutputWidth != 2)
            throw new InvalidDataException($"{onnx.ModelPath}: the graph's logits end in {onnx.OutputWidth} values, not a start and an end; export the model again");
        // run_qa.py's stride, or a third of a shorter window so that consecutive windows still overlap.
        Options = new QaOptions { MaxLength = MaxLength, DocStride = Math.Min(128, MaxLength / 3), MaxQuestionLength = Math.Min(64, MaxLength / 3) };
        Options.Validate();
    }

    /// <summary>Windows and post-processing; <see cref="QaOptions.MaxLength"/> is the model's.</summary>
    public QaOptions Options { get; init; }

    /// <summary>Loads a question-answering model directory to run on the given engine.</summary>
    /// <exception cref="InvalidDataException">The directory holds another task's model.</exception>
    public static new QuestionAnsweringPipeline Load(string directory, InferenceRuntime runtime = InferenceRuntime.Managed, int threads = 0)
    {
        var pipeline = Pipeline.Load(directory, runtime, threads);
        if (pipeline is QuestionAnsweringPipeline qa) return qa;
        pipeline.Dispose();
        throw new InvalidDataException($"{directory}: the model is a {pipeline.Config.Architectures?.FirstOrDefault()}, not a question-answering model");
    }

    /// <summary>The best answer to <paramref name="question"/> in <paramref name="context"/>: its text, score and character offsets.</summary>
    public QaAnswer Answer(string question, string context) => Answer([(question, context)])[0][0];

    /// <summary>
    /// The <paramref name="topK"/> best answers to each (question, context), best first; windows of all the
    /// questions are batched together by length.
    /// </summary>
    /// <exception cref="ArgumentException">A question or context is empty.</exception>
    public IReadOnlyList<IReadOnlyList<QaAnswer>> Answer(IReadOnlyList<(string Question, string Context)> items, int topK = 1, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var examples = new SquadExample[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            var (q, c) = items[i];
            if (string.IsNullOrWhiteSpace(q)) throw new ArgumentException($"question {i} is empty");
            if (string.IsNullOrWhiteSpace(c)) throw new ArgumentException($"context {i} is empty");
            examples[i] = new SquadExample(i.ToString(System.Globalization.CultureInfo.InvariantCulture), "", q, c, []);
        }
        var features = QaFeatures.Build(Tokenizer, examples, Options);
        var (logits, _) = QuestionAnsweringTask.Run(Engine, features, batchSize, Tokenizer.PadId);
        return QaFeatures.PostProcess(examples, features, logits, Options, topK);
    }
}
