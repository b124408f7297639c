using System.Text.Json;
using BertSharp.Inference;
using BertSharp.Text;
using BertSharp.Model;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/classify: <c>{"text"}</c> or <c>{"texts"}</c> (optional <c>"text_pair(s)"</c>, <c>"top_k"</c>) →
/// <c>{"predictions": [{"label", "score", "scores": {label: p}}], "model"}</c>, scores highest first; a
/// multi-label model adds <c>"labels"</c>, every label at or above the threshold.
/// </summary>
internal sealed class ClassifyEndpoint
{
    private readonly ServerState _state;
    private readonly TextClassifier _classifier;
    private readonly BatchQueue<TokenEncoding, float[]> _queue;

    public ClassifyEndpoint(ServerState state, TextClassifier classifier)
    {
        _state = state;
        _classifier = classifier;
        int k = classifier.Labels.Count;
        _queue = new BatchQueue<TokenEncoding, float[]>(batch =>
        {
            var scores = classifier.Probabilities(batch, state.Options.MaxBatchSize);
            return [.. Enumerable.Range(0, batch.Count).Select(i => scores.AsSpan(i * k, k).ToArray())];
        }, state.Gate, state.Options, state.Metrics);
    }

    public async Task HandleAsync(HttpContext context)
    {
        using var body = await JsonBody.ReadAsync(context, _state.Options.MaxBodyBytes);
        var request = TextsRequest.Parse(body.RootElement, _state.Options);
        int k = _classifier.Labels.Count;
        int topK = Math.Min(TextsRequest.OptionalPositiveInt(body.RootElement, "top_k") ?? k, k);
        // Tokenize here, on the request's thread, so the batcher's thread only runs the model.
        var encodings = new TokenEncoding[request.Texts.Length];
        for (int i = 0; i < encodings.Length; i++) encodings[i] = _classifier.Encode(request.Texts[i], request.Pairs?[i]);
        var scores = await _queue.RunAsync(encodings, context.RequestAborted);
        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (this, scores, topK), static (w, s) =>
        {
            w.WriteStartObject();
            w.WritePropertyName("predictions");
            w.WriteStartArray();
            foreach (var row in s.scores) WritePrediction(w, s.Item1._classifier, row, s.topK);
            w.WriteEndArray();
            w.WriteString("model", s.Item1._state.Options.ModelName);
            w.WriteEndObject();
        });
    }

    /// <summary><c>{"label", "score", "scores"}</c> with the top <paramref name="topK"/> labels, highest first (and <c>"labels"</c> for multi-label).</summary>
    internal static void WritePrediction(Utf8JsonWriter w, TextClassifier classifier, ReadOnlySpan<float> p, int topK)
    {
        var labels = classifier.Labels;
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
        if (classifier.ProblemType == ProblemType.MultiLabelClassification)
        {
            w.WriteStartArray("labels");
            foreach (int c in order)
                if (p[c] >= classifier.Threshold) w.WriteStringValue(labels[c]);
            w.WriteEndArray();
        }
        w.WriteString("label", labels[order[0]]);
        w.WriteNumber("score", p[order[0]]);
        w.WriteStartObject("scores");
        for (int i = 0; i < topK; i++) w.WriteNumber(labels[order[i]], p[order[i]]);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
