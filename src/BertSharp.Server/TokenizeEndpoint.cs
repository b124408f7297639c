using BertSharp.Text;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/tokenize: the model's view of each text (truncated to its max length) —
/// <c>{"encodings": [{"ids", "tokens", "offsets": [[start, end]], "type_ids"}], "model"}</c>; offsets are
/// character positions in the text (or in the pair, for its tokens); special tokens have [0, 0].
/// </summary>
internal sealed class TokenizeEndpoint(ServerState state)
{
    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, state.Options.MaxBodyBytes);
        var request = TextsRequest.Parse(body.RootElement, state.Options);
        var encodings = new TokenEncoding[request.Texts.Length];
        for (int i = 0; i < encodings.Length; i++) encodings[i] = state.Pipeline.Encode(request.Texts[i], request.Pairs?[i]);
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (encodings, state.Options.ModelName), static (w, s) =>
        {
            w.WriteStartObject();
            w.WritePropertyName("encodings");
            w.WriteStartArray();
            foreach (var e in s.encodings)
            {
                w.WriteStartObject();
                WriteTokens(w, e);
                w.WritePropertyName("type_ids");
                w.WriteStartArray();
                foreach (var t in e.TypeIds) w.WriteNumberValue(t);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("model", s.ModelName);
            w.WriteEndObject();
        });
    }

    /// <summary>Writes an encoding's "ids", "tokens" and "offsets" properties (shared with the attention endpoint).</summary>
    internal static void WriteTokens(System.Text.Json.Utf8JsonWriter w, BertSharp.Text.TokenEncoding e)
    {
        w.WritePropertyName("ids");
        w.WriteStartArray();
        foreach (var id in e.Ids) w.WriteNumberValue(id);
        w.WriteEndArray();
        w.WritePropertyName("tokens");
        w.WriteStartArray();
        foreach (var t in e.Tokens) w.WriteStringValue(t);
        w.WriteEndArray();
        w.WritePropertyName("offsets");
        w.WriteStartArray();
        foreach (var (start, end) in e.Offsets)
        {
            w.WriteStartArray();
            w.WriteNumberValue(start);
            w.WriteNumberValue(end);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }
}
