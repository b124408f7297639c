using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Encoding = BertSharp.Text.Encoding;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/classify: <c>{"text"}</c> or <c>{"texts"}</c> (optional <c>"text_pair(s)"</c>, <c>"top_k"</c>) →
/// <c>{"predictions": [{"label", "score", "scores": {label: p}}], "model"}</c>, scores highest first.
/// </summary>
internal sealed class ClassifyEndpoint(ServerState state)
{
    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, state.Options.MaxBodyBytes);
        var request = TextsRequest.Parse(body.RootElement, state.Options);
        int k = state.Classifier.Labels.Count;
        int topK = Math.Min(TextsRequest.OptionalPositiveInt(body.RootElement, "top_k") ?? k, k);
        // Tokenize here, on the request's thread, so the batcher's thread only runs the model.
        var encodings = new Encoding[request.Texts.Length];
        for (int i = 0; i < encodings.Length; i++) encodings[i] = state.Classifier.Encode(request.Texts[i], request.Pairs?[i]);
        var probabilities = await state.Queue.ClassifyAsync(encodings, context.RequestAborted);
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (state, probabilities, encodings.Length, topK), static (w, s) =>
        {
            w.WriteStartObject();
            w.WritePropertyName("predictions");
            w.WriteStartArray();
            for (int i = 0; i < s.Length; i++)
                WritePrediction(w, s.state.Classifier.Labels, s.probabilities.AsSpan(i * s.state.Classifier.Labels.Count, s.state.Classifier.Labels.Count), s.topK);
            w.WriteEndArray();
            w.WriteString("model", s.state.Options.ModelName);
            w.WriteEndObject();
        });
    }

    /// <summary><c>{"label", "score", "scores"}</c> with the top <paramref name="topK"/> labels, highest first.</summary>
    internal static void WritePrediction(Utf8JsonWriter w, IReadOnlyList<string> labels, ReadOnlySpan<float> p, int topK)
    {
        Span<int> order = p.Length <= 256 ? stackalloc int[p.Length] : new int[p.Length];
        for (int c = 0; c < order.Length; c++) order[c] = c;
        // Insertion sort, highest first: label counts are small.
        for (int i = 1; i < order.Length; i++)
        {
            int c = order[i], j = i - 1;
            while (j >= 0 && p[order[j]] < p[c]) { order[j + 1] = order[j]; j--; }
            order[j + 1] = c;
        }
        w.WriteStartObject();
        w.WriteString("label", labels[order[0]]);
        w.WriteNumber("score", p[order[0]]);
        w.WriteStartObject("scores");
        for (int i = 0; i < topK; i++) w.WriteNumber(labels[order[i]], p[order[i]]);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
