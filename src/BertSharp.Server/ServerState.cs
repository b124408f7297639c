using BertSharp.Inference;

namespace BertSharp.Server;

/// <summary>What the endpoints share: the model, the limits, the batcher and the counters.</summary>
internal sealed record ServerState(TextClassifier Classifier, ServerOptions Options, InferenceQueue Queue, ServerMetrics Metrics);
