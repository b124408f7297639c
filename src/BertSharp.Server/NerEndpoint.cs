using System.Text.Json;
using BertSharp.Inference;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/ner: <c>{"text"}</c> or <c>{"texts"}</c> with an optional <c>"aggregation_strategy"</c> (none, simple,
/// first, average, max; default simple) → <c>{"predictions": [{"entities": [{"entity_group", "score", "word",
/// "start", "end"}]}], "model"}</c>, offsets in UTF-16 code units of the text; without aggregation each entity
/// is a piece with <c>"entity"</c> (its tag) and <c>"index"</c>, as Hugging Face's pipeline answers.
/// </summary>
internal sealed class NerEndpoint
{
    private readonly ServerState _state;
    private readonly BatchQueue<(string Text, AggregationStrategy Aggregation), IReadOnlyList<TokenEntity>> _queue;

    public NerEndpoint(ServerState state, TokenClassificationPipeline pipeline)
    {
        _state = state;
        _queue = new(batch =>
        {
            var result = new IReadOnlyList<TokenEntity>[batch.Count];
            // One forward pass per strategy present in the batch; requests rarely mix them.
            foreach (var group in Enumerable.Range(0, batch.Count).GroupBy(i => batch[i].Aggregation))
            {
                int[] rows = [.. group];
                var entities = pipeline.PredictBatch([.. rows.Select(i => batch[i].Text)], group.Key, state.Options.MaxBatchSize);
                for (int r = 0; r < rows.Length; r++) result[rows[r]] = entities[r];
            }
            return result;
        }, state.Gate, state.Options, state.Metrics);
    }

    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, _state.Options.MaxBodyBytes);
        var request = TextsRequest.Parse(body.RootElement, _state.Options);
        if (request.Pairs is not null) throw TextsRequest.Invalid("invalid_field", "named-entity recognition reads single texts; \"text_pair(s)\" does not apply");
        var aggregation = Aggregation(body.RootElement);
        var results = await _queue.RunAsync([.. request.Texts.Select(t => (t, aggregation))]);
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (results, _state.Options.ModelName), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("predictions");
            foreach (var entities in s.results)
            {
                w.WriteStartObject();
                w.WriteStartArray("entities");
                foreach (var e in entities) Write(w, e);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("model", s.ModelName);
            w.WriteEndObject();
        });
    }

    private static AggregationStrategy Aggregation(JsonElement body)
    {
        if (!body.TryGetProperty("aggregation_strategy", out var value) || value.ValueKind == JsonValueKind.Null) return AggregationStrategy.Simple;
        return value.ValueKind == JsonValueKind.String && Enum.TryParse<AggregationStrategy>(value.GetString(), ignoreCase: true, out var strategy)
            && !int.TryParse(value.GetString(), out _)
            ? strategy
            : throw TextsRequest.Invalid("invalid_field", $"\"aggregation_strategy\" must be one of none, simple, first, average, max (got {TextsRequest.Shown(value)})");
    }

    private static void Write(Utf8JsonWriter w, TokenEntity e)
    {
        w.WriteStartObject();
        if (e.Index is int index)
        {
            w.WriteString("entity", e.Entity);
            w.WriteNumber("index", index);
        }
        else
        {
            w.WriteString("entity_group", e.Entity);
        }
        w.WriteNumber("score", e.Score);
        w.WriteString("word", e.Word);
        w.WriteNumber("start", e.Start);
        w.WriteNumber("end", e.End);
        w.WriteEndObject();
    }
}
