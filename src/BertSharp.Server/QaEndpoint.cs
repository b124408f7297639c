using System.Text.Json;
using BertSharp.QuestionAnswering;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/qa: <c>{"question", "context", "top_k"?}</c> → <c>{"answers": [{"answer", "score", "start", "end"}],
/// "model"}</c>, best first; <c>start</c> and <c>end</c> are [start, end) character (UTF-16) indices into the context.
/// Questions from concurrent requests are answered in shared batches.
/// </summary>
internal sealed class QaEndpoint
{
    private readonly ServerState _state;
    private readonly BatchQueue<(string Question, string Context, int TopK), IReadOnlyList<QaAnswer>> _queue;

    public QaEndpoint(ServerState state, QuestionAnsweringPipeline pipeline)
    {
        _state = state;
        _queue = new BatchQueue<(string Question, string Context, int TopK), IReadOnlyList<QaAnswer>>(batch =>
        {
            int topK = batch.Max(b => b.TopK);
            var answers = pipeline.Answer([.. batch.Select(b => (b.Question, b.Context))], topK, state.Options.MaxBatchSize);
            return [.. answers.Select((a, i) => (IReadOnlyList<QaAnswer>)[.. a.Take(batch[i].TopK)])];
        }, state.Gate, state.Options, state.Metrics);
    }

    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, _state.Options.MaxBodyBytes);
        var root = body.RootElement;
        string question = Field(root, "question", _state.Options.MaxCharsPerText);
        string text = Field(root, "context", _state.Options.MaxCharsPerText);
        int topK = Math.Min(TextsRequest.OptionalPositiveInt(root, "top_k") ?? 1, 20);
        var answers = (await _queue.RunAsync([(question, text, topK)]))[0];
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (answers, _state.Options.ModelName), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("answers");
            foreach (var a in s.answers)
            {
                w.WriteStartObject();
                w.WriteString("answer", a.Answer);
                w.WriteNumber("score", a.Score);
                w.WriteNumber("start", a.Start);
                w.WriteNumber("end", a.End);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("model", s.ModelName);
            w.WriteEndObject();
        });
    }

    private static string Field(JsonElement body, string name, int maxChars)
    {
        if (!body.TryGetProperty(name, out var value)) throw TextsRequest.Invalid("invalid_field", $"missing \"{name}\" (a string)");
        if (value.ValueKind != JsonValueKind.String) throw TextsRequest.Invalid("invalid_field", $"\"{name}\" must be a string");
        var s = value.GetString()!;
        if (string.IsNullOrWhiteSpace(s)) throw TextsRequest.Invalid("empty_text", $"\"{name}\" is empty");
        if (s.Length > maxChars) throw TextsRequest.Invalid("text_too_long", $"\"{name}\" has {s.Length} characters; the server's limit is {maxChars}");
        return s;
    }
}
