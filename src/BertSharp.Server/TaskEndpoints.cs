using BertSharp.Inference;
using Microsoft.AspNetCore.Builder;

namespace BertSharp.Server;

/// <summary>
/// The endpoints of each task, registered by the pipeline the server runs: the one place a new task's endpoint
/// is added. The encoder's own endpoints (tokenize, embed, attention, model) are there for every task.
/// </summary>
internal static class TaskEndpoints
{
    public static void Map(WebApplication app, ServerState state)
    {
        switch (state.Pipeline)
        {
            case TextClassifier classifier:
                app.MapPost("/v1/classify", new ClassifyEndpoint(state, classifier).HandleAsync);
                break;
            case TokenClassificationPipeline ner:
                app.MapPost("/v1/ner", new NerEndpoint(state, ner).HandleAsync);
                break;
            case QuestionAnswering.QuestionAnsweringPipeline qa:
                app.MapPost("/v1/qa", new QaEndpoint(state, qa).HandleAsync);
                break;
            case FillMaskPipeline fillMask:
                app.MapPost("/v1/fill-mask", new FillMaskEndpoint(state, fillMask).HandleAsync);
                break;
        }
    }
}
