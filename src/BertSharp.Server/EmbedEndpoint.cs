using BertSharp.Inference;
using BertSharp.Text;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/embed: <c>{"text"}</c> or <c>{"texts"}</c> → <c>{"embeddings": [[…]], "dimensions", "model"}</c>,
/// the encoder's last hidden state mean-pooled over each text's tokens and scaled to unit length.
/// </summary>
internal sealed class EmbedEndpoint(ServerState state)
{
    public async Task HandleAsync(HttpContext context)
    {
        RequireManaged(state, "embeddings");
        using var body = await JsonBody.ReadAsync(context, state.Options.MaxBodyBytes);
        var request = TextsRequest.Parse(body.RootElement, state.Options);
        var encodings = new TokenEncoding[request.Texts.Length];
        for (int i = 0; i < encodings.Length; i++) encodings[i] = state.Pipeline.Encode(request.Texts[i], request.Pairs?[i]);
        var embeddings = await state.Gate.RunExclusiveAsync(() => state.Pipeline.Embed(encodings, state.Options.MaxBatchSize));
        int dimensions = state.Pipeline.Config.HiddenSize;
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (embeddings, dimensions, state.Options.ModelName), static (w, s) =>
        {
            w.WriteStartObject();
            w.WritePropertyName("embeddings");
            w.WriteStartArray();
            for (int start = 0; start < s.embeddings.Length; start += s.dimensions)
            {
                w.WriteStartArray();
                foreach (var v in s.embeddings.AsSpan(start, s.dimensions)) w.WriteNumberValue(v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteNumber("dimensions", s.dimensions);
            w.WriteString("model", s.ModelName);
            w.WriteEndObject();
        });
    }

    /// <summary>Refuses work that needs the managed encoder's internals when the server runs the ONNX graph (logits only).</summary>
    internal static void RequireManaged(ServerState state, string what)
    {
        if (state.Pipeline.Runtime != InferenceRuntime.Managed)
            throw TextsRequest.Invalid("unsupported_on_runtime",
                $"{what} need the managed runtime: the server runs the exported ONNX graph, which outputs logits only; start it with --runtime managed");
    }
}
