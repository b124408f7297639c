using BertSharp.Inference;
using BertSharp.Model;
using BertSharp.Text;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>
/// POST /v1/attention: one text (optional <c>"text_pair"</c>) → its tokens, the prediction, and every
/// layer's attention probabilities, <c>"attentions"[layer][head][from][to]</c> (rows sum to 1), rounded
/// to 4 decimals; the text is cut at <see cref="ServerOptions.AttentionMaxTokens"/> tokens since the
/// answer grows with the square of the length. Managed runtime only.
/// </summary>
internal sealed class AttentionEndpoint(ServerState state)
{
    public async Task HandleAsync(HttpContext context)
    {
        EmbedEndpoint.RequireManaged(state, "attentions");
        using var body = await JsonBody.ReadAsync(context, state.Options.MaxBodyBytes);
        if (body.RootElement.TryGetProperty("texts", out _))
            throw TextsRequest.Invalid("invalid_field", "attention takes one text: send \"text\" (and optionally \"text_pair\"), not \"texts\"");
        var request = TextsRequest.Parse(body.RootElement, state.Options);
        string text = request.Texts[0];
        string? pair = request.Pairs?[0];
        var pipeline = state.Pipeline;
        int maxTokens = Math.Min(pipeline.MaxLength, state.Options.AttentionMaxTokens);
        var encoding = pipeline.Tokenizer.Encode(text, pair, new EncodeOptions { MaxLength = maxTokens });
        bool truncated = encoding.Length == maxTokens && pipeline.Tokenizer.Encode(text, pair).Length > maxTokens;
        int T = encoding.Length;
        var mask = new int[T];
        mask.AsSpan().Fill(1);
        var input = new BertInput(1, T, encoding.Ids, encoding.TypeIds, mask);
        var output = await state.Gate.RunExclusiveAsync(() => pipeline.Model.Forward(input, outputAttentions: true));

        await JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (state, encoding, output, truncated), static (w, s) =>
        {
            var (state, e, output, truncated) = s;
            w.WriteStartObject();
            w.WriteString("model", state.Options.ModelName);
            TokenizeEndpoint.WriteTokens(w, e);
            w.WriteBoolean("truncated", truncated);
            if (state.Pipeline is TextClassifier classifier)
            {
                // The page shows the label beside the attentions: the same scores /v1/classify gives.
                var scores = (float[])output.Logits.Data.Clone();
                ((BertForSequenceClassification)classifier.Model).Scores(scores, 1);
                w.WritePropertyName("prediction");
                ClassifyEndpoint.WritePrediction(w, classifier, scores, classifier.Labels.Count);
            }
            var attentions = output.Attentions!;
            int heads = state.Pipeline.Config.NumAttentionHeads, T = e.Length;
            w.WriteNumber("layers", attentions.Count);
            w.WriteNumber("heads", heads);
            w.WritePropertyName("attentions");
            w.WriteStartArray();
            foreach (var layer in attentions)
            {
                w.WriteStartArray();
                for (int h = 0; h < heads; h++)
                {
                    w.WriteStartArray();
                    for (int from = 0; from < T; from++)
                    {
                        w.WriteStartArray();
                        foreach (var p in layer.Data.AsSpan((h * T + from) * T, T)) w.WriteNumberValue(MathF.Round(p, 4));
                        w.WriteEndArray();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }
}
