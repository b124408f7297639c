using BertSharp.Inference;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/fill-mask: <c>{"text"}</c> or <c>{"texts"}</c> with <c>[MASK]</c>s (optional <c>"top_k"</c>, default 5,
/// and <c>"targets"</c>, an array of words) → <c>{"results": [{"text", "masks": [[{"score", "token", "token_str",
/// "sequence"}]]}], "missing_targets", "model"}</c>, one list of candidates per mask, most probable first.
/// </summary>
internal sealed class FillMaskEndpoint
{
    private readonly ServerState _state;
    private readonly FillMaskPipeline _pipeline;
    private readonly BatchQueue<Item, FillMaskResult> _queue;

    public FillMaskEndpoint(ServerState state, FillMaskPipeline pipeline)
    {
        _state = state;
        _pipeline = pipeline;
        // Requests that ask the same question (top_k, targets) share one batched pass.
        _queue = new BatchQueue<Item, FillMaskResult>(batch =>
        {
            var results = new FillMaskResult[batch.Count];
            foreach (var group in batch.Index().GroupBy(p => p.Item.Key))
            {
                var first = group.First().Item;
                var filled = pipeline.FillBatch([.. group.Select(p => p.Item.Text)], first.TopK, first.Targets, state.Options.MaxBatchSize);
                foreach (var (g, (index, _)) in group.Index()) results[index] = filled[g];
            }
            return results;
        }, state.Gate, state.Options, state.Metrics);
    }

    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, _state.Options.MaxBodyBytes);
        var root = body.RootElement;
        var request = TextsRequest.Parse(root, _state.Options);
        if (request.Pairs is not null) throw new ApiException(StatusCodes.Status422UnprocessableEntity, "invalid_field", "fill-mask takes single texts, not pairs");
        int topK = TextsRequest.OptionalPositiveInt(root, "top_k") ?? 5;
        string[]? targets = null;
        if (root.TryGetProperty("targets", out var t) && t.ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            if (t.ValueKind != System.Text.Json.JsonValueKind.Array || t.GetArrayLength() == 0 || t.EnumerateArray().Any(e => e.ValueKind != System.Text.Json.JsonValueKind.String))
                throw new ApiException(StatusCodes.Status422UnprocessableEntity, "invalid_field", "\"targets\" must be a non-empty array of strings");
            targets = [.. t.EnumerateArray().Select(e => e.GetString()!)];
        }
        var missing = targets is null ? [] : targets.Where((_, i) => _pipeline.TargetIds(targets)[i] is null).ToArray();
        if (targets is not null && missing.Length == targets.Length)
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "unknown_targets", $"none of the targets ({string.Join(", ", targets)}) is a token of the model's vocabulary");
        for (int i = 0; i < request.Texts.Length; i++)
        {
            if (_pipeline.CountMasks(request.Texts[i]) == 0)
                throw new ApiException(StatusCodes.Status422UnprocessableEntity, "no_mask",
                    $"{(request.Texts.Length == 1 ? "\"text\"" : $"\"texts\"[{i}]")} has no {_pipeline.MaskToken} within the model's {_pipeline.MaxLength} tokens");
        }
        string key = topK + "|" + (targets is null ? "" : string.Join('\u0001', targets));
        var results = await _queue.RunAsync([.. request.Texts.Select(text => new Item(text, topK, targets, key))]);
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (results, missing, model: _state.Options.ModelName), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteStartArray("results");
            foreach (var r in s.results)
            {
                w.WriteStartObject();
                w.WriteString("text", r.Text);
                w.WriteStartArray("masks");
                foreach (var mask in r.Masks)
                {
                    w.WriteStartArray();
                    foreach (var c in mask)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("score", c.Score);
                        w.WriteNumber("token", c.TokenId);
                        w.WriteString("token_str", c.Token);
                        w.WriteString("sequence", c.Sequence);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("missing_targets");
            foreach (var m in s.missing) w.WriteStringValue(m);
            w.WriteEndArray();
            w.WriteString("model", s.model);
            w.WriteEndObject();
        });
    }

    private sealed record Item(string Text, int TopK, string[]? Targets, string Key);
}
