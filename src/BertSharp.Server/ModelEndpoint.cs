using System.Diagnostics;
using System.Text.Json;
using BertSharp.Inference;
using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>GET /v1/model: what is being served — config summary, labels, sizes, memory, runtime, limits.</summary>
internal sealed class ModelEndpoint(ServerState state)
{
    public Task HandleAsync(HttpContext context)
    {
        long workingSet;
        using (var process = Process.GetCurrentProcess()) workingSet = process.WorkingSet64;
        return JsonResponse.WriteAsync(context, StatusCodes.Status200OK, (state, workingSet), static (w, s) =>
        {
            var (state, workingSet) = s;
            var c = state.Pipeline;
            var config = c.Config;
            var o = state.Options;
            w.WriteStartObject();
            w.WriteString("model", o.ModelName);
            // The name only: the absolute path would tell any client about the server's file system.
            w.WriteString("source", Path.GetFileName(Path.TrimEndingDirectorySeparator(c.Source)));
            w.WriteString("runtime", c.Runtime.ToString().ToLowerInvariant());
            w.WriteString("architecture", config.Architectures?.FirstOrDefault());
            if (c is TextClassifier classifier)
            {
                w.WriteString("problem_type", JsonNamingPolicy.SnakeCaseLower.ConvertName(classifier.ProblemType.ToString()));
                w.WritePropertyName("labels");
                w.WriteStartArray();
                foreach (var l in classifier.Labels) w.WriteStringValue(l);
                w.WriteEndArray();
            }
            w.WriteNumber("parameters", c.ParameterCount);
            w.WriteNumber("max_length", c.MaxLength);
            w.WriteStartObject("config");
            w.WriteString("model_type", config.ModelType);
            w.WriteNumber("vocab_size", config.VocabSize);
            w.WriteNumber("hidden_size", config.HiddenSize);
            w.WriteNumber("num_hidden_layers", config.NumHiddenLayers);
            w.WriteNumber("num_attention_heads", config.NumAttentionHeads);
            w.WriteNumber("intermediate_size", config.IntermediateSize);
            w.WriteString("hidden_act", config.HiddenAct);
            w.WriteNumber("max_position_embeddings", config.MaxPositionEmbeddings);
            w.WriteNumber("type_vocab_size", config.TypeVocabSize);
            w.WriteEndObject();
            w.WriteStartObject("memory");
            w.WriteNumber("weights_bytes", c.ParameterCount * sizeof(float));
            w.WriteNumber("gc_heap_bytes", GC.GetTotalMemory(forceFullCollection: false));
            w.WriteNumber("working_set_bytes", workingSet);
            w.WriteEndObject();
            w.WriteStartObject("limits");
            w.WriteNumber("max_batch_size", o.MaxBatchSize);
            w.WriteNumber("max_batch_wait_ms", o.MaxBatchWait.TotalMilliseconds);
            w.WriteNumber("queue_limit", o.QueueLimit);
            w.WriteNumber("max_body_bytes", o.MaxBodyBytes);
            w.WriteNumber("max_texts_per_request", o.MaxTextsPerRequest);
            w.WriteNumber("max_chars_per_text", o.MaxCharsPerText);
            w.WriteNumber("attention_max_tokens", o.AttentionMaxTokens);
            w.WriteEndObject();
            w.WriteBoolean("api_key_required", o.ApiKey is not null);
            w.WriteEndObject();
        });
    }
}
