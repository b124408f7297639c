using BertSharp.Inference;

namespace BertSharp.Server;

/// <summary>What the endpoints share: the pipeline, the limits, the model's gate and the counters.</summary>
internal sealed record ServerState(Pipeline Pipeline, ServerOptions Options, ModelGate Gate, ServerMetrics Metrics);
