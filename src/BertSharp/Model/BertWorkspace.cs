namespace BertSharp.Model;

/// <summary>
/// Everything one forward/backward pass writes: saved activations per module and gradient scratch.
/// Buffers only grow, so a warm workspace serves any batch up to the largest seen without
/// allocating. One workspace serves one call at a time.
/// </summary>
internal sealed class BertWorkspace
{
    public BertWorkspace(int layers)
    {
        Layers = new BertLayer.Cache[layers];
        for (int i = 0; i < layers; i++) Layers[i] = new BertLayer.Cache();
    }

    /// <summary>The input of the last forward pass (backward needs its ids).</summary>
    public BertInput? Input { get; set; }

    public int BatchSize => Input!.BatchSize;
    public int SequenceLength => Input!.SequenceLength;

    public float[] MaskAdd = [];
    public float[] Pooled = [];
    public BertEmbeddings.Cache Embeddings { get; } = new();
    public BertLayer.Cache[] Layers { get; }

    // Backward scratch.
    public float[] DHiddenA = [], DHiddenB = [], DPooled = [];
    public BertLayer.Scratch LayerScratch { get; } = new();

    /// <summary>(B,T,C): the final layer's output.</summary>
    public float[] LastHidden => Layers.Length == 0 ? Embeddings.Output : Layers[^1].Out.Output;
}
