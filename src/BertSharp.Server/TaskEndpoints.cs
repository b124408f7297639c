using BertSharp.Inference;

namespace BertSharp.Server;

/// <summary>
/// The endpoints of each task, registered by the pipeline the server runs: the one place a new task's endpoint
/// is added. The encoder's own endpoints (tokenize, embed, attention, model) are there for every task.
/// </summary>
internal static class TaskEndpoints
{
    public static void Map(ApiRoutes v1, ServerState state)
    {
        switch (state.Pipeline)
        {
            case TextClassifier classifier:
                v1.Post("/classify", new ClassifyEndpoint(state, classifier).HandleAsync);
                break;
            case TokenClassificationPipeline ner:
                v1.Post("/ner", new NerEndpoint(state, ner).HandleAsync);
                break;
            case QuestionAnswering.QuestionAnsweringPipeline qa:
                v1.Post("/qa", new QaEndpoint(state, qa).HandleAsync);
                break;
            case FillMaskPipeline fillMask:
                v1.Post("/fill-mask", new FillMaskEndpoint(state, fillMask).HandleAsync);
                break;
        }
    }
}
