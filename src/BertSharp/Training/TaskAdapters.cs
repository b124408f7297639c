using BertSharp.Data;
using BertSharp.Inference;

namespace BertSharp.Training;

/// <summary>
/// The training and evaluation adapter of a loaded model's task: the one place a new task's adapter is
/// registered for <c>bertsharp eval</c>.
/// </summary>
internal static class TaskAdapters
{
    public static TaskAdapter For(Pipeline pipeline) => pipeline switch
    {
        TextClassifier c => new SequenceClassificationTask(c.ProblemType, new LabelMap([.. c.Labels])),
        TokenClassificationPipeline t => new TokenClassificationTask(new LabelMap([.. t.Labels])),
        QuestionAnswering.QuestionAnsweringPipeline qa => new QuestionAnswering.QuestionAnsweringTask(qa.Options),
        _ => throw new NotSupportedException($"{pipeline.Source}: BertSharp cannot evaluate a {pipeline.GetType().Name}"),
    };
}
